// pqw::Dataset: opening (format detection), seeded class-stratified subsets, the validation
// carve, the fingerprint and image decoding. The per-format readers are in dataset_formats.cpp.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "dataset_impl.h"
#include "pqw/error.h"
#include "pqw/funnybirds.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace pqw {

struct Dataset::Impl : detail::DatasetData {};

const char* splitName(Split s) {
    switch (s) {
    case Split::Train: return "train";
    case Split::Val: return "val";
    case Split::Test: return "test";
    }
    return "?";
}

std::vector<std::pair<std::string, std::string>> builtinDatasets() {
    return {
        {"fashion-mnist",
         "Fashion-MNIST: 60,000 + 10,000 grayscale 28x28 clothing images, 10 classes "
         "(Debian package dataset-fashion-mnist)"},
        {"mnist", "MNIST: 60,000 + 10,000 grayscale 28x28 handwritten digits, 10 classes (fetched by datasets/fetch.sh)"},
        {"funnybirds",
         "FunnyBirds-style synthetic birds made of parts (beak, eyes, feet, tail, wings), 50 classes, with part "
         "maps; drawn on first use and cached (funnybirds:images=3000,size=224,seed=0)"},
    };
}

namespace {

/// Uniform integer in [0, n) from a 64-bit engine, by rejection: identical on every
/// standard library (std::uniform_int_distribution is not).
uint64_t uniformBelow(std::mt19937_64& rng, uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = rng();
    } while (x >= limit);
    return x % n;
}

/// Fisher-Yates shuffle with uniformBelow.
void shuffle(std::vector<size_t>& v, std::mt19937_64& rng) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniformBelow(rng, i)]);
}

/// Per class, the indices of the samples for which `pick` holds, in dataset order.
template <class Pred>
std::vector<std::vector<size_t>> byClass(const detail::DatasetData& d, Pred pick) {
    std::vector<std::vector<size_t>> out(d.classNames.size());
    for (size_t i = 0; i < d.samples.size(); ++i)
        if (pick(d.samples[i])) out[static_cast<size_t>(d.samples[i].label)].push_back(i);
    return out;
}

/// Keeps a seeded class-stratified subset of at most `maxCount` of the samples for which
/// `pick` holds (others untouched), preserving dataset order. Per-class quotas are
/// proportional (largest remainder, ties to the lower class index).
template <class Pred>
void keepSubset(detail::DatasetData& d, size_t maxCount, uint64_t seed, Pred pick) {
    if (maxCount == 0) return;
    auto groups = byClass(d, pick);
    size_t total = 0;
    for (const auto& g : groups) total += g.size();
    if (total <= maxCount) return;
    std::vector<size_t> quota(groups.size());
    std::vector<std::pair<uint64_t, size_t>> remainders;  // (remainder, class)
    size_t assigned = 0;
    for (size_t c = 0; c < groups.size(); ++c) {
        const uint64_t num = static_cast<uint64_t>(maxCount) * groups[c].size();
        quota[c] = static_cast<size_t>(num / total);
        assigned += quota[c];
        remainders.push_back({num % total, c});
    }
    std::stable_sort(remainders.begin(), remainders.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [rem, c] : remainders) {
        if (assigned >= maxCount) break;
        if (quota[c] < groups[c].size()) {
            ++quota[c];
            ++assigned;
        }
    }
    std::mt19937_64 rng(seed);
    std::vector<char> keep(d.samples.size(), 1);
    for (size_t c = 0; c < groups.size(); ++c) {
        std::vector<size_t> order = groups[c];
        shuffle(order, rng);
        for (size_t k = quota[c]; k < order.size(); ++k) keep[order[k]] = 0;
    }
    std::vector<Sample> samples;
    std::vector<uint32_t> idxFileOf;
    samples.reserve(maxCount);
    for (size_t i = 0; i < d.samples.size(); ++i) {
        if (!keep[i]) continue;
        samples.push_back(std::move(d.samples[i]));
        if (!d.idxFileOf.empty()) idxFileOf.push_back(d.idxFileOf[i]);
    }
    d.samples = std::move(samples);
    d.idxFileOf = std::move(idxFileOf);
}

/// Moves round(fraction * count) of each class's Train samples to Val (seeded).
void carveValidation(detail::DatasetData& d, double fraction, uint64_t seed) {
    if (fraction <= 0) return;
    std::mt19937_64 rng(seed);
    for (auto& group : byClass(d, [](const Sample& s) { return s.split == Split::Train; })) {
        const auto k = static_cast<size_t>(std::llround(fraction * static_cast<double>(group.size())));
        shuffle(group, rng);
        for (size_t j = 0; j < k && j < group.size(); ++j) d.samples[group[j]].split = Split::Val;
    }
}

std::string computeFingerprint(const detail::DatasetData& d) {
    uint64_t h = fnv1a64("pqw-dataset-1", 13);
    auto str = [&h](const std::string& s) { h = fnv1a64(s.data(), s.size() + 1, h); };  // with the NUL
    auto bytes = [&h](const auto& v) { h = fnv1a64(&v, sizeof v, h); };
    str(d.format);
    bytes(static_cast<uint64_t>(d.classNames.size()));
    for (const auto& c : d.classNames) str(c);
    const uint8_t crop = d.spec.cubCrop ? 1 : 0;
    bytes(crop);
    bytes(static_cast<uint64_t>(d.samples.size()));
    for (const auto& s : d.samples) {
        str(s.source);
        bytes(s.label);
        bytes(static_cast<uint8_t>(s.split));
        if (crop && s.hasBox) {
            bytes(s.box.x);
            bytes(s.box.y);
            bytes(s.box.w);
            bytes(s.box.h);
        }
    }
    return hex64(h);
}

std::string detectKind(const std::string& path) {
    if (detail::isBuiltinName(path) || funnybirds::isFunnyBirdsName(path)) return "builtin";
    std::error_code ec;
    const fs::path p(path);
    if (!fs::exists(p, ec)) throw Error(path + ": no such file or folder (and not a built-in dataset name: fashion-mnist, mnist, funnybirds)");
    if (fs::is_directory(p, ec)) {
        if (fs::is_regular_file(p / "images.txt", ec) && fs::is_regular_file(p / "classes.txt", ec)) return "cub";
        for (const auto& e : fs::directory_iterator(p, ec)) {
            const std::string n = e.path().filename().string();
            auto ends = [&n](const std::string& suf) {
                return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
            };
            if (e.is_regular_file() && (ends("-idx3-ubyte") || ends("-idx3-ubyte.gz") || ends(".idx3-ubyte"))) return "idx";
        }
        return "folder";
    }
    std::string ext = p.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (fs::is_regular_file(p, ec) && ext == ".csv") return "csv";
    throw Error(path + ": cannot tell the dataset format (expected a built-in name, a folder, or a .csv manifest)");
}

/// The funnybirds built-in: generated into the cache folder on first use (pqw/funnybirds.h),
/// then an ordinary set of PNG files. Every fifth image of a class is a test image.
void readFunnyBirds(detail::DatasetData& d, const std::string& name) {
    const auto o = funnybirds::parseName(name);
    const std::string folder = funnybirds::ensureGenerated(o);
    d.format = "funnybirds";
    d.name = funnybirds::nameOf(o);
    d.partsDir = (fs::path(folder) / "parts").string();
    for (const auto& c : funnybirds::classes()) d.classNames.push_back(c.name);
    d.samples.reserve(size_t(o.images));
    for (int i = 0; i < o.images; ++i) {
        Sample s;
        s.source = (fs::path(folder) / "images" / (std::to_string(i) + ".png")).string();
        s.label = funnybirds::classOfIndex(uint64_t(i));
        s.split = funnybirds::isTestIndex(uint64_t(i)) ? Split::Test : Split::Train;
        s.id = i;
        d.samples.push_back(std::move(s));
    }
}

}  // namespace

/// Builds a Dataset from a spec (the friend that may set Dataset::d_).
struct DatasetLoader {
    /// The shared state of a default-constructed or moved-from Dataset.
    static std::shared_ptr<const Dataset::Impl> empty() {
        static const auto e = std::make_shared<const Dataset::Impl>();
        return e;
    }

    static Dataset open(const DatasetSpec& spec) {
        if (!(spec.valFraction >= 0.0 && spec.valFraction < 1.0))
            throw Error("valFraction must be in [0, 1), got " + std::to_string(spec.valFraction));
        if (spec.path.empty()) throw Error("no dataset given (a built-in name, a folder or a .csv manifest)");
        auto impl = std::make_shared<Dataset::Impl>();
        impl->spec = spec;
        try {
            const std::string kind = spec.kind == "auto" ? detectKind(spec.path) : spec.kind;
            if (kind == "builtin" && funnybirds::isFunnyBirdsName(spec.path)) readFunnyBirds(*impl, spec.path);
            else if (kind == "builtin") detail::readBuiltin(*impl, spec.path);
            else if (kind == "idx") detail::readIdxFolder(*impl, spec.path);
            else if (kind == "folder") detail::readImageFolder(*impl, spec.path);
            else if (kind == "cub") detail::readCub(*impl, spec.path);
            else if (kind == "csv") detail::readCsv(*impl, spec.path);
            else throw Error("unknown dataset kind '" + spec.kind + "' (expected auto, builtin, idx, folder, cub or csv)");
        } catch (const fs::filesystem_error& e) {
            const std::string where = e.path1().empty() ? spec.path : e.path1().string();
            throw Error(where + ": " + e.code().message());
        }

        if (impl->samples.empty()) {
            std::string msg = spec.path + ": no usable images";
            if (impl->report.skipped > 0) {
                msg += " (" + std::to_string(impl->report.skipped) + " skipped";
                if (!impl->report.skippedExamples.empty()) msg += "; first: " + impl->report.skippedExamples.front();
                msg += ")";
            }
            throw Error(msg);
        }
        // One rule for every format (the CSV reader also names the line): a class that only
        // validation or test samples have is one no training sample teaches.
        {
            const size_t K = impl->classNames.size();
            std::vector<char> inTrain(K, 0);
            std::vector<int> other(K, -1);
            bool anyTrain = false;
            for (const auto& s : impl->samples) {
                const auto c = static_cast<size_t>(s.label);
                if (c >= K) continue;
                if (s.split == Split::Train) inTrain[c] = 1, anyTrain = true;
                else if (other[c] < 0) other[c] = static_cast<int>(s.split);
            }
            for (size_t c = 0; anyTrain && c < K; ++c)
                if (!inTrain[c] && other[c] >= 0)
                    throw Error(spec.path + ": class '" + impl->classNames[c] + "' appears only in the " +
                                (other[c] == static_cast<int>(Split::Test) ? "test" : "validation") +
                                " split (no training sample has it)");
        }
        // Subsets first (test, then train + val), then the validation carve from Train.
        keepSubset(*impl, spec.maxTest, spec.seed ^ 0x7e57'5eed'0000'0002ull,
                   [](const Sample& s) { return s.split == Split::Test; });
        keepSubset(*impl, spec.maxTrain, spec.seed ^ 0x7a19'5eed'0000'0001ull,
                   [](const Sample& s) { return s.split != Split::Test; });
        const bool explicitVal =
            std::any_of(impl->samples.begin(), impl->samples.end(), [](const Sample& s) { return s.split == Split::Val; });
        if (!explicitVal) carveValidation(*impl, spec.valFraction, spec.seed);
        if (impl->report.skipped > 0)
            impl->report.warnings.push_back(std::to_string(impl->report.skipped) + " unreadable image(s) skipped");
        impl->fingerprint = computeFingerprint(*impl);

        Dataset ds;
        ds.d_ = std::move(impl);
        return ds;
    }
};

Dataset Dataset::open(const DatasetSpec& spec) { return DatasetLoader::open(spec); }

Dataset::Dataset() : d_(DatasetLoader::empty()) {}
Dataset::~Dataset() = default;
Dataset::Dataset(Dataset&& o) noexcept : d_(std::move(o.d_)) { o.d_ = DatasetLoader::empty(); }
Dataset& Dataset::operator=(Dataset&& o) noexcept {
    if (this != &o) {
        d_ = std::move(o.d_);
        o.d_ = DatasetLoader::empty();
    }
    return *this;
}
Dataset::Dataset(const Dataset&) = default;
Dataset& Dataset::operator=(const Dataset&) = default;

const DatasetSpec& Dataset::spec() const { return d_->spec; }
const std::string& Dataset::name() const { return d_->name; }
const std::string& Dataset::format() const { return d_->format; }
const std::vector<std::string>& Dataset::classNames() const { return d_->classNames; }
size_t Dataset::size() const { return d_->samples.size(); }
const Sample& Dataset::sample(size_t i) const { return d_->samples.at(i); }
const LoadReport& Dataset::report() const { return d_->report; }
const std::string& Dataset::partsDir() const { return d_->partsDir; }
std::string Dataset::fingerprint() const { return d_->fingerprint; }

std::vector<size_t> Dataset::indices(Split s) const {
    std::vector<size_t> out;
    for (size_t i = 0; i < d_->samples.size(); ++i)
        if (d_->samples[i].split == s) out.push_back(i);
    return out;
}

std::vector<size_t> Dataset::classCounts(Split s) const {
    std::vector<size_t> out(d_->classNames.size(), 0);
    for (const auto& smp : d_->samples)
        if (smp.split == s) ++out[static_cast<size_t>(smp.label)];
    return out;
}

namespace {

/// Any decoded image -> 8-bit RGB.
cv::Mat toRgb8(const cv::Mat& in, const std::string& path) {
    cv::Mat m = in;
    switch (m.depth()) {
    case CV_8U: break;
    case CV_16U: m.convertTo(m, CV_8U, 1.0 / 257.0); break;
    case CV_32F:
    case CV_64F: m.convertTo(m, CV_8U, 255.0); break;  // float images are in [0, 1]
    default: throw Error(path + ": unsupported pixel type (depth " + std::to_string(m.depth()) + ")");
    }
    cv::Mat out;
    switch (m.channels()) {
    case 1: cv::cvtColor(m, out, cv::COLOR_GRAY2RGB); break;
    case 2: {  // gray + alpha
        cv::Mat gray;
        cv::extractChannel(m, gray, 0);
        cv::cvtColor(gray, out, cv::COLOR_GRAY2RGB);
        break;
    }
    case 3: cv::cvtColor(m, out, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, out, cv::COLOR_BGRA2RGB); break;
    default: throw Error(path + ": unsupported channel count " + std::to_string(m.channels()));
    }
    return out;
}

}  // namespace

namespace {

/// Image limits (docs/reliability.md): far above any photo (a 100-megapixel camera stays
/// below), checked from the header before anything is decoded.
constexpr uint64_t kMaxImagePixels = uint64_t(1) << 27;      // 134 million pixels (400 MB as 8-bit RGB)
constexpr uint64_t kMaxImageFileBytes = uint64_t(1) << 30;  // 1 GiB

uint32_t be16(const std::string& b, size_t at) { return (uint32_t(uint8_t(b[at])) << 8) | uint8_t(b[at + 1]); }

bool isJpeg(const std::string& b) {
    return b.size() >= 3 && uint8_t(b[0]) == 0xff && uint8_t(b[1]) == 0xd8 && uint8_t(b[2]) == 0xff;
}

/// Width and height a PNG or JPEG header claims; {0, 0} for other formats (OpenCV's own limit,
/// set to the same number, covers them).
std::pair<uint64_t, uint64_t> claimedSize(const std::string& b) {
    static const char kPng[] = "\x89PNG\r\n\x1a\n";
    if (b.size() >= 24 && b.compare(0, 8, kPng, 8) == 0 && b.compare(12, 4, "IHDR") == 0)
        return {(uint64_t(be16(b, 16)) << 16) | be16(b, 18), (uint64_t(be16(b, 20)) << 16) | be16(b, 22)};
    if (!isJpeg(b)) return {0, 0};
    size_t i = 2;
    while (i + 4 <= b.size()) {
        if (uint8_t(b[i]) != 0xff) return {0, 0};
        const uint8_t m = uint8_t(b[i + 1]);
        if (m == 0xff) {  // fill byte
            ++i;
            continue;
        }
        if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7) || m == 0x01) {  // markers without a length
            i += 2;
            continue;
        }
        if (m == 0xda || m == 0xd9) return {0, 0};  // scan data: no frame header before it
        const size_t len = be16(b, i + 2);
        const bool sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
        if (sof && i + 9 <= b.size()) return {be16(b, i + 7), be16(b, i + 5)};  // X (width), Y (height)
        i += 2 + len;
    }
    return {0, 0};
}

/// A JPEG cut short lacks its end-of-image marker; libjpeg then fills the rest with grey and
/// only warns (naming no file). The marker cannot occur inside entropy-coded data, so it must
/// be among the last bytes (a little trailing padding is allowed).
bool jpegHasEnd(const std::string& b) {
    if (b.size() < 4) return false;
    const size_t from = b.size() > 4096 ? b.size() - 4096 : 0;
    for (size_t i = b.size() - 1; i-- > from;)
        if (uint8_t(b[i]) == 0xff && uint8_t(b[i + 1]) == 0xd9) return true;
    return false;
}

}  // namespace

cv::Mat loadImageFile(const std::string& path) {
    // OpenCV's own pixel limit (formats whose header is not read here), once per process; a
    // value the user set in the environment wins.
    static std::once_flag once;
    std::call_once(once, [] { ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(kMaxImagePixels).c_str(), 0); });
    std::error_code ec;
    const auto bytesOnDisk = fs::file_size(path, ec);
    if (!ec && bytesOnDisk > kMaxImageFileBytes)
        throw Error(path + ": cannot decode image: the file has " + std::to_string(bytesOnDisk >> 20) +
                    " MiB; the limit for an image is 1024 MiB");
    const std::string bytes = readFile(path);
    const auto [w, h] = claimedSize(bytes);
    if (w * h > kMaxImagePixels)
        throw Error(path + ": cannot decode image: the header claims " + std::to_string(w) + " x " + std::to_string(h) +
                    " pixels, more than the limit of " + std::to_string(kMaxImagePixels) + " pixels");
    const bool jpeg = isJpeg(bytes);
    if (jpeg && !jpegHasEnd(bytes))
        throw Error(path + ": cannot decode image: truncated JPEG (the file ends before the end-of-image marker)");
    cv::Mat raw;
    try {
        // JPEG: decoded to colour, which applies the EXIF orientation (phone photos stand
        // upright); other formats unchanged (16-bit, alpha) and converted below.
        const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
        raw = cv::imdecode(buf, jpeg ? cv::IMREAD_COLOR : cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        throw Error(path + ": cannot decode image: " + e.what());
    }
    if (raw.empty()) throw Error(path + ": cannot decode image (missing, corrupt or unsupported)");
    return toRgb8(raw, path);
}

cv::Mat Dataset::loadImage(size_t i) const {
    const Sample& s = sample(i);
    if (!d_->idxFileOf.empty()) {
        const detail::IdxImages& f = d_->idxFiles[d_->idxFileOf[i]];
        const size_t plane = size_t(f.rows) * size_t(f.cols);
        const cv::Mat gray(f.rows, f.cols, CV_8UC1, const_cast<uint8_t*>(f.pixels.data() + plane * size_t(s.id)));
        cv::Mat rgb;
        cv::cvtColor(gray, rgb, cv::COLOR_GRAY2RGB);
        return rgb;
    }
    cv::Mat rgb = loadImageFile(s.source);
    if (d_->spec.cubCrop && s.hasBox) {
        const int x0 = std::clamp(static_cast<int>(std::floor(s.box.x)), 0, rgb.cols);
        const int y0 = std::clamp(static_cast<int>(std::floor(s.box.y)), 0, rgb.rows);
        const int x1 = std::clamp(static_cast<int>(std::ceil(s.box.x + s.box.w)), 0, rgb.cols);
        const int y1 = std::clamp(static_cast<int>(std::ceil(s.box.y + s.box.h)), 0, rgb.rows);
        if (x1 <= x0 || y1 <= y0)
            throw Error(s.source + ": bounding box lies outside the " + std::to_string(rgb.cols) + "x" +
                        std::to_string(rgb.rows) + " image");
        rgb = rgb(cv::Rect(x0, y0, x1 - x0, y1 - y0)).clone();
    }
    return rgb;
}

}  // namespace pqw
