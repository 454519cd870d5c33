#pragma once
// FunnyBirds-style synthetic birds (after Hesse et al., ICCV 2023), drawn with OpenCV:
// a body and a head plus five part slots (beak, eyes, feet, tail, wings), each with several
// clearly different types. A class is one combination of part types. Every image is a pure
// function of its parameters, so any intervention re-renders exactly: the same bird with any
// set of parts removed, or on another background. Torch-free. docs/datasets.md describes the
// dataset, docs/omenn.md the part-based evaluation built on it (pqw/funnybirds_eval.h).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace pqw {
class Dataset;
class JobContext;
}

namespace pqw::funnybirds {

/// Part ids in the part map (0 = background). The five slots that make a class are
/// Beak..Wings; body and head are on every bird.
enum Part : uint8_t { Background = 0, Body = 1, Head = 2, Beak = 3, Eyes = 4, Feet = 5, Tail = 6, Wings = 7 };
constexpr int kPartIds = 8;  ///< background + 7 parts
constexpr int kSlots = 5;    ///< beak, eyes, feet, tail, wings
/// The part id of slot s (0..4): Beak + s.
constexpr int slotPart(int s) { return Beak + s; }
/// "background", "body", "head", "beak", "eyes", "feet", "tail", "wings".
const char* partName(int partId);
/// How many types slot s has: beak 4, eyes 3, feet 4, tail 6, wings 6.
int typeCount(int slot);
/// A short name of type t of slot s ("hooked", "striped", ...).
const char* typeName(int slot, int type);
/// A bit mask of part ids (bit p = part id p) for render()'s `removed`.
constexpr uint32_t partBit(int partId) { return 1u << partId; }

/// One class: a part type per slot, and its name ("c07-short-dot-webbed-fan-striped").
struct ClassDef {
    std::array<int, kSlots> types{};
    std::string name;
};
/// The 50 classes (the same for every seed): all distinct; many pairs differ in exactly one
/// or two slots (target sensitivity needs them).
const std::vector<ClassDef>& classes();
/// Slots in which two classes differ.
int classDistance(int a, int b);
/// The minimal sufficient part sets of class c: bit masks over slots (bit s = slot s) of the
/// smallest slot sets on which no other class agrees with c, none containing another.
std::vector<uint32_t> minimalSufficientSets(int c);

/// Everything one image is drawn from. Positions are fractions of the image side, so the
/// same parameters draw the same scene at any size.
struct BirdParams {
    int cls = 0;
    double cx = 0.5, cy = 0.5;  ///< centre of the body
    double scale = 0.32;        ///< length unit of the bird, as a fraction of the side
    double angle = 0;           ///< rotation in degrees (counter-clockwise)
    bool flip = false;          ///< facing left instead of right
    std::array<uint8_t, 3> body{};  ///< body colour (RGB)
    std::array<uint8_t, 3> head{};  ///< head colour (RGB)
    double light = 1.0;         ///< brightness gain
    double lightAngle = 0;      ///< direction of the lighting gradient (radians)
    double lightSlope = 0;      ///< gradient strength across the image
    uint64_t background = 0;    ///< seed of the background (texture, clutter, distractors)
};

/// Draws parameters for image `index` of class `cls` from a dataset seed (deterministic).
BirdParams sampleParams(uint64_t seed, uint64_t index, int cls);

struct Rendered {
    cv::Mat rgb;    ///< CV_8UC3, RGB
    cv::Mat parts;  ///< CV_8UC1, part id of the topmost element at each pixel (0 = background)
};
/// Renders a bird at size x size. `removed`: parts not drawn (partBit mask; what lay beneath
/// shows: the body or head, or the background). `background`: another background seed (a
/// swap), or none for the image's own. Bit-exact and deterministic.
Rendered render(const BirdParams& p, int size, uint32_t removed = 0, std::optional<uint64_t> background = std::nullopt);
/// The scene without a bird: render(p, size, every part removed, background).rgb.
cv::Mat renderBackground(const BirdParams& p, int size, std::optional<uint64_t> background = std::nullopt);
/// Every part id's bit (body to wings).
constexpr uint32_t kAllParts = 0xfeu;

/// The dataset's options: `funnybirds` or `funnybirds:images=3000,size=224,seed=0`.
struct Options {
    int images = 3000;  ///< total images (train + test); at least one per class
    int size = 224;     ///< image side in pixels (32..1024)
    uint64_t seed = 0;  ///< seed of the poses, colours and backgrounds
};
/// True when `name` is `funnybirds` or `funnybirds:...`.
bool isFunnyBirdsName(const std::string& name);
/// Parses the name; throws pqw::Error naming the bad option.
Options parseName(const std::string& name);
/// The canonical name of these options (only the non-defaults).
std::string nameOf(const Options& o);
/// Image i's class (i mod 50) and split: every fifth image of a class is a test image.
int classOfIndex(uint64_t index);
bool isTestIndex(uint64_t index);

/// The cache folder holding a generated set: $PQW_CACHE_DIR, else $XDG_CACHE_HOME, else
/// ~/.cache, + /protoquant-workbench/funnybirds-v2-<images>-<size>-<seed>.
std::string cacheFolder(const Options& o);
/// Makes the set if it is not cached yet (images/<i>.png, parts/<i>.png, index.json; written
/// to a temporary folder and renamed, so a cancelled run leaves nothing half made) and
/// returns its folder. Uses two threads.
std::string ensureGenerated(const Options& o, JobContext* ctx = nullptr);

/// For a sample of a funnybirds Dataset: its parameters and part map (from the cache).
/// Throws pqw::Error when the dataset is not funnybirds.
BirdParams paramsOf(const Dataset& ds, size_t sample);
cv::Mat partMapOf(const Dataset& ds, size_t sample);
/// The generation options of a funnybirds Dataset (throws for other datasets).
Options optionsOf(const Dataset& ds);

}  // namespace pqw::funnybirds
