#pragma once
// Internal to core: the data behind pqw::Dataset and the per-format readers that fill it.
#include <cstdint>
#include <string>
#include <vector>

#include "pqw/dataset.h"

namespace pqw::detail {

/// One IDX image file held in memory (uint8, row-major, count x rows x cols).
struct IdxImages {
    std::string file;
    int rows = 0, cols = 0;
    std::vector<uint8_t> pixels;
};

/// Everything a reader produces; Dataset::Impl adds nothing but identity.
struct DatasetData {
    DatasetSpec spec;
    std::string name;
    std::string format;
    std::string partsDir;
    std::string fingerprint;
    std::vector<std::string> classNames;
    std::vector<Sample> samples;
    /// IDX only: per sample, the index into idxFiles (empty for other formats).
    std::vector<uint32_t> idxFileOf;
    std::vector<IdxImages> idxFiles;
    LoadReport report;
};

/// How many skipped examples the report keeps.
constexpr size_t kMaxSkippedExamples = 5;

/// Cheap check of an image file: exists, non-empty, starts with a known image magic.
/// Returns an empty string when fine, else the reason.
std::string checkImageFile(const std::string& path);
/// Records a skipped file in the report (counted; the first few kept with the reason).
void noteSkipped(LoadReport& r, const std::string& path, const std::string& reason);

/// Reads one IDX image file (magic 0x803, uint8, raw or gzip) / label file (magic 0x801).
/// Throws pqw::Error naming the file for a wrong magic, a truncated file, a header claiming
/// more data than the file can hold, or trailing bytes.
IdxImages readIdxImages(const std::string& path);
std::vector<uint8_t> readIdxLabels(const std::string& path);

/// Built-in datasets ("fashion-mnist", "mnist"). Throws pqw::Error for an unknown name or
/// missing files (naming the file and what provides it).
void readBuiltin(DatasetData& d, const std::string& name);
/// A folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (and optionally
/// classes.txt with one class name per line).
void readIdxFolder(DatasetData& d, const std::string& folder);
void readImageFolder(DatasetData& d, const std::string& root);
void readCub(DatasetData& d, const std::string& root);
void readCsv(DatasetData& d, const std::string& file);

/// True for a builtin dataset name.
bool isBuiltinName(const std::string& name);

}  // namespace pqw::detail
