// FunnyBirds-style synthetic birds (pqw/funnybirds.h): the class table, the parameter
// sampler, the renderer (OpenCV polygons without anti-aliasing, so every pixel belongs to
// exactly one element and removing a part changes only its own pixels), and the on-disk
// cache that makes a set into an ordinary dataset of PNG files.
#include "pqw/funnybirds.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pqw/dataset.h"
#include "pqw/error.h"
#include "pqw/job.h"
#include "pqw/util.h"

namespace fs = std::filesystem;

namespace pqw::funnybirds {

namespace {

/// SplitMix64: a tiny generator whose output is the same with every standard library.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uni() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
    double range(double a, double b) { return a + (b - a) * uni(); }
    int below(int n) { return int(next() % uint64_t(n)); }
};

uint64_t mix(uint64_t a, uint64_t b) {
    Rng r(a ^ (b * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull));
    r.next();
    return r.next();
}

constexpr int kTypeCounts[kSlots] = {4, 3, 4, 6, 6};
const char* const kTypeNames[kSlots][6] = {
    {"short", "needle", "hooked", "open", "", ""},
    {"dot", "ringed", "slit", "", "", ""},
    {"claws", "webbed", "stilts", "stubby", "", ""},
    {"fan", "streamer", "forked", "round", "striped", "spiky"},
    {"small", "long", "striped", "spotted", "raised", "scalloped"},
};
constexpr int kClasses = 50;

std::vector<ClassDef> makeClasses() {
    // Ten "anchor" classes far apart (they differ in at least three slots), each followed by
    // four neighbours that differ from it in one or two slots: every pair is distinct, and
    // many pairs differ in exactly one or two slots. Deterministic (a fixed seed).
    std::vector<std::array<int, kSlots>> chosen;
    auto dist = [](const std::array<int, kSlots>& a, const std::array<int, kSlots>& b) {
        int d = 0;
        for (int s = 0; s < kSlots; ++s) d += a[s] != b[s];
        return d;
    };
    auto isNew = [&](const std::array<int, kSlots>& t) {
        for (const auto& c : chosen)
            if (dist(c, t) == 0) return false;
        return true;
    };
    Rng r(0xf0bb1b1d5ull);
    std::vector<std::array<int, kSlots>> anchors;
    while (anchors.size() < 10) {
        std::array<int, kSlots> t;
        for (int sl = 0; sl < kSlots; ++sl) t[size_t(sl)] = r.below(kTypeCounts[sl]);
        bool far = true;
        for (const auto& a : anchors) far = far && dist(a, t) >= 3;
        if (far) anchors.push_back(t);
    }
    for (const auto& a : anchors) {
        chosen.push_back(a);
        int added = 0;
        for (int tries = 0; added < 4 && tries < 1000; ++tries) {
            std::array<int, kSlots> t = a;
            const int changes = 1 + (added >= 2);  // two neighbours at distance 1, two at 2
            int s1 = r.below(kSlots), s2 = s1;
            while (changes == 2 && s2 == s1) s2 = r.below(kSlots);
            t[s1] = (t[s1] + 1 + r.below(kTypeCounts[s1] - 1)) % kTypeCounts[s1];
            if (changes == 2) t[s2] = (t[s2] + 1 + r.below(kTypeCounts[s2] - 1)) % kTypeCounts[s2];
            if (!isNew(t)) continue;
            chosen.push_back(t);
            ++added;
        }
    }
    std::vector<ClassDef> out;
    for (size_t c = 0; c < chosen.size() && out.size() < size_t(kClasses); ++c) {
        ClassDef d;
        d.types = chosen[c];
        std::ostringstream n;
        n << "c" << (c < 10 ? "0" : "") << c;
        for (int s = 0; s < kSlots; ++s) n << "-" << kTypeNames[s][d.types[size_t(s)]];
        d.name = n.str();
        out.push_back(d);
    }
    return out;
}

// ---- drawing -----------------------------------------------------------------------------

using Poly = std::vector<cv::Point2d>;

Poly ellipse(double cx, double cy, double a, double b, double rotDeg = 0, int n = 40) {
    Poly p;
    const double r = rotDeg * CV_PI / 180;
    for (int i = 0; i < n; ++i) {
        const double t = 2 * CV_PI * i / n;
        const double x = a * std::cos(t), y = b * std::sin(t);
        p.push_back({cx + x * std::cos(r) - y * std::sin(r), cy + x * std::sin(r) + y * std::cos(r)});
    }
    return p;
}

Poly rect(double x0, double y0, double x1, double y1) { return {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}; }

/// A thick segment as a quad.
Poly bar(double x0, double y0, double x1, double y1, double w) {
    const double dx = x1 - x0, dy = y1 - y0, l = std::max(1e-9, std::hypot(dx, dy));
    const double nx = -dy / l * w / 2, ny = dx / l * w / 2;
    return {{x0 + nx, y0 + ny}, {x1 + nx, y1 + ny}, {x1 - nx, y1 - ny}, {x0 - nx, y0 - ny}};
}

using Rgb = cv::Scalar;

/// Canonical bird coordinates -> image pixels (fixed point, 4 fractional bits).
struct Frame {
    double ox, oy, s, c, sn, fx;
    cv::Point map(const cv::Point2d& q) const {
        const double u = fx * q.x, v = q.y;
        const double x = ox + s * (c * u + sn * v), y = oy + s * (-sn * u + c * v);
        return {int(std::lround(x * 16)), int(std::lround(y * 16))};
    }
};

/// One element being drawn: its coverage and colours, composited onto the canvas afterwards.
struct Layer {
    const Frame& f;
    cv::Mat color, mask, tmp;
    Layer(const Frame& fr, int size) : f(fr), color(size, size, CV_8UC3, cv::Scalar::all(0)), mask(size, size, CV_8UC1, cv::Scalar(0)) {}
    std::vector<cv::Point> pts(const Poly& p) const {
        std::vector<cv::Point> o;
        o.reserve(p.size());
        for (const auto& q : p) o.push_back(f.map(q));
        return o;
    }
    /// Adds a filled polygon to the element's outline.
    void shape(const Poly& p, const Rgb& col) {
        const auto v = pts(p);
        const cv::Point* d = v.data();
        const int n = int(v.size());
        cv::fillPoly(mask, &d, &n, 1, cv::Scalar(255), cv::LINE_8, 4);
        cv::fillPoly(color, &d, &n, 1, col, cv::LINE_8, 4);
    }
    /// Paints a pattern inside the outline drawn so far (clipped to it).
    void deco(const Poly& p, const Rgb& col) {
        tmp = cv::Mat(mask.size(), CV_8UC1, cv::Scalar(0));
        const auto v = pts(p);
        const cv::Point* d = v.data();
        const int n = int(v.size());
        cv::fillPoly(tmp, &d, &n, 1, cv::Scalar(255), cv::LINE_8, 4);
        cv::bitwise_and(tmp, mask, tmp);
        color.setTo(col, tmp);
    }
};

void drawBody(Layer& L, const BirdParams& p) {
    const Rgb c(p.body[0], p.body[1], p.body[2]);
    L.shape(ellipse(0, 0, 1.0, 0.62), c);
    const Rgb belly(std::min(255, p.body[0] + 50), std::min(255, p.body[1] + 50), std::min(255, p.body[2] + 50));
    L.deco(ellipse(0.1, 0.32, 0.7, 0.28), belly);
}

void drawHead(Layer& L, const BirdParams& p) { L.shape(ellipse(0.95, -0.62, 0.45, 0.45), Rgb(p.head[0], p.head[1], p.head[2])); }

void drawBeak(Layer& L, int t) {
    switch (t) {
    case 0: L.shape({{1.28, -0.77}, {1.28, -0.47}, {1.72, -0.62}}, Rgb(255, 150, 30)); break;
    case 1: L.shape({{1.28, -0.69}, {1.28, -0.55}, {2.1, -0.6}}, Rgb(25, 25, 25)); break;
    case 2:
        L.shape({{1.28, -0.8}, {1.6, -0.78}, {1.8, -0.62}, {1.77, -0.38}, {1.62, -0.5}, {1.28, -0.48}}, Rgb(240, 215, 40));
        break;
    default:
        L.shape({{1.28, -0.8}, {1.28, -0.65}, {1.75, -0.84}}, Rgb(220, 35, 35));
        L.shape({{1.28, -0.59}, {1.28, -0.44}, {1.7, -0.38}}, Rgb(220, 35, 35));
        break;
    }
}

void drawEyes(Layer& L, int t) {
    const double x = 1.08, y = -0.74;
    switch (t) {
    case 0:
        L.shape(ellipse(x, y, 0.12, 0.12), Rgb(250, 250, 250));
        L.deco(ellipse(x + 0.03, y, 0.065, 0.065), Rgb(10, 10, 10));
        break;
    case 1:
        L.shape(ellipse(x, y, 0.17, 0.17), Rgb(210, 20, 30));
        L.deco(ellipse(x, y, 0.1, 0.1), Rgb(255, 230, 0));
        L.deco(ellipse(x, y, 0.05, 0.05), Rgb(10, 10, 10));
        break;
    default:
        L.shape(ellipse(x, y, 0.2, 0.08, -15), Rgb(250, 250, 250));
        L.deco(ellipse(x, y, 0.18, 0.035, -15), Rgb(20, 20, 120));
        break;
    }
}

void drawFeet(Layer& L, int t) {
    for (double lx : {-0.3, 0.3}) {
        switch (t) {
        case 0: {
            const Rgb c(240, 140, 20);
            L.shape(bar(lx, 0.45, lx, 1.05, 0.07), c);
            for (double dx : {-0.22, 0.0, 0.22}) L.shape(bar(lx, 1.05, lx + dx, 1.22, 0.06), c);
            break;
        }
        case 1: {
            const Rgb c(60, 120, 230);
            L.shape(bar(lx, 0.45, lx, 0.92, 0.08), c);
            L.shape({{lx, 0.88}, {lx + 0.3, 1.12}, {lx - 0.3, 1.12}}, c);
            break;
        }
        case 2: {
            const Rgb c(245, 120, 175);
            L.shape(bar(lx, 0.45, lx, 1.38, 0.05), c);
            L.shape(bar(lx - 0.12, 1.38, lx + 0.14, 1.38, 0.06), c);
            break;
        }
        default: L.shape(rect(lx - 0.12, 0.45, lx + 0.12, 0.86), Rgb(70, 70, 70)); break;
        }
    }
}

void drawTail(Layer& L, int t) {
    switch (t) {
    case 0: L.shape({{-0.8, -0.1}, {-1.75, -0.7}, {-1.75, 0.5}}, Rgb(30, 160, 150)); break;
    case 1:
        L.shape(bar(-0.8, -0.1, -1.85, -0.55, 0.1), Rgb(130, 60, 200));
        L.shape({{-1.85, -0.72}, {-2.02, -0.55}, {-1.85, -0.38}, {-1.68, -0.55}}, Rgb(130, 60, 200));
        break;
    case 2: L.shape({{-0.8, -0.25}, {-1.85, -0.8}, {-1.45, -0.05}, {-1.85, 0.6}, {-0.8, 0.15}}, Rgb(140, 90, 40)); break;
    case 3: L.shape(ellipse(-1.25, -0.1, 0.5, 0.36), Rgb(60, 170, 60)); break;
    case 4:
        L.shape(rect(-1.8, -0.3, -0.75, 0.12), Rgb(245, 245, 245));
        for (int k = 0; k < 4; ++k) {
            const double x0 = -1.8 + 0.26 * k;
            L.deco(rect(x0, -0.3, x0 + 0.13, 0.12), Rgb(20, 20, 20));
        }
        break;
    default:
        L.shape({{-0.8, -0.25}, {-1.9, -0.75}, {-1.3, -0.1}, {-2.0, -0.1}, {-1.3, 0.05}, {-1.9, 0.55}, {-0.8, 0.15}},
                Rgb(230, 90, 30));
        break;
    }
}

void drawWings(Layer& L, int t) {
    switch (t) {
    case 0: L.shape(ellipse(-0.05, -0.05, 0.45, 0.25, 10), Rgb(50, 70, 170)); break;
    case 1: L.shape({{0.45, -0.25}, {0.2, 0.15}, {-1.45, 0.35}, {-0.4, -0.3}}, Rgb(95, 95, 115)); break;
    case 2:
        L.shape(ellipse(-0.1, -0.05, 0.72, 0.36, 8), Rgb(245, 200, 40));
        for (int k = 0; k < 3; ++k) L.deco(rect(-0.65 + 0.38 * k, -0.5, -0.5 + 0.38 * k, 0.5), Rgb(20, 20, 20));
        break;
    case 3:
        L.shape(ellipse(-0.1, -0.05, 0.72, 0.36, 8), Rgb(245, 245, 245));
        for (const auto& [dx, dy] : std::vector<std::pair<double, double>>{{-0.5, -0.05}, {-0.15, -0.18}, {0.2, -0.05}, {-0.2, 0.12}})
            L.deco(ellipse(dx, dy, 0.09, 0.09), Rgb(15, 15, 15));
        break;
    case 4: L.shape({{0.25, -0.25}, {-0.45, -0.3}, {-0.75, -1.45}, {-0.1, -1.2}}, Rgb(200, 60, 120)); break;
    default: {
        Poly p;
        for (int i = 0; i <= 12; ++i) {  // upper arc
            const double a = CV_PI + CV_PI * i / 12;
            p.push_back({-0.1 + 0.72 * std::cos(a), -0.05 + 0.36 * std::sin(a)});
        }
        for (int i = 5; i >= 0; --i) {  // zig-zag lower edge, right to left
            const double x0 = -0.82 + 0.24 * i;
            p.push_back({x0 + 0.24, -0.05});
            p.push_back({x0 + 0.12, 0.32});
        }
        L.shape(p, Rgb(40, 180, 200));
        break;
    }
    }
}

/// The background: a colour gradient, smooth blotches, fine noise, random shapes and, on a
/// quarter of the images, a distractor part near the border.
cv::Mat drawBackground(uint64_t seed, int size) {
    Rng r(mix(seed, 0xb6));
    cv::Mat bg(size, size, CV_8UC3);
    const double c0[3] = {r.range(60, 220), r.range(60, 220), r.range(60, 220)};
    const double c1[3] = {r.range(60, 220), r.range(60, 220), r.range(60, 220)};
    const double ga = r.range(0, 2 * CV_PI);
    cv::Mat blot(6, 6, CV_32FC3);
    for (int i = 0; i < 36; ++i)
        for (int ch = 0; ch < 3; ++ch) blot.at<cv::Vec3f>(i / 6, i % 6)[ch] = float(r.range(-45, 45));
    cv::Mat blotUp;
    cv::resize(blot, blotUp, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
    Rng noise(mix(seed, 0x7a));
    const double cg = std::cos(ga), sg = std::sin(ga);
    for (int y = 0; y < size; ++y) {
        auto* row = bg.ptr<cv::Vec3b>(y);
        const auto* b = blotUp.ptr<cv::Vec3f>(y);
        const double ty = (y / double(size) - 0.5) * sg;
        for (int x = 0; x < size; ++x) {
            const double t = 0.5 + 0.5 * ((x / double(size) - 0.5) * cg + ty);
            const uint64_t n = noise.next();
            for (int ch = 0; ch < 3; ++ch) {
                const double v = c0[ch] * (1 - t) + c1[ch] * t + b[x][ch] + double(int((n >> (8 * ch)) & 15) - 8);
                row[x][ch] = cv::saturate_cast<uint8_t>(v);
            }
        }
    }
    const int shapes = 4 + r.below(7);
    for (int k = 0; k < shapes; ++k) {
        const Rgb col(r.range(0, 255), r.range(0, 255), r.range(0, 255));
        const double x = r.uni() * size, y = r.uni() * size, s = r.range(0.03, 0.12) * size;
        switch (r.below(4)) {
        case 0: cv::circle(bg, {int(x), int(y)}, std::max(1, int(s / 2)), col, cv::FILLED, cv::LINE_8); break;
        case 1:
            cv::rectangle(bg, cv::Rect(int(x), int(y), std::max(1, int(s)), std::max(1, int(s * r.range(0.3, 1.0)))), col,
                          cv::FILLED, cv::LINE_8);
            break;
        case 2: {
            const double a = r.range(0, CV_PI);
            cv::line(bg, {int(x), int(y)}, {int(x + 2 * s * std::cos(a)), int(y + 2 * s * std::sin(a))}, col,
                     std::max(1, size / 112), cv::LINE_8);
            break;
        }
        default:
            cv::ellipse(bg, {int(x), int(y)}, {std::max(1, int(s / 2)), std::max(1, int(s / 5))}, r.range(0, 180), 0, 360, col,
                        cv::FILLED, cv::LINE_8);
            break;
        }
    }
    if (r.uni() < 0.25) {  // a distractor part near a border, small (a quarter of the images)
        const int slot = r.below(kSlots);
        const int type = r.below(kTypeCounts[slot]);
        const int side = r.below(4);
        const double along = r.range(0.1, 0.9), in = r.range(0.04, 0.1);
        const double px = side == 0 ? in : side == 1 ? 1 - in : along, py = side == 2 ? in : side == 3 ? 1 - in : along;
        // The part is drawn relative to its own centre in bird coordinates.
        const cv::Point2d anchors[kSlots] = {{1.55, -0.62}, {1.08, -0.74}, {0, 0.85}, {-1.35, -0.1}, {-0.1, -0.1}};
        const double sc = r.range(0.06, 0.1) * size, ang = r.range(-180, 180) * CV_PI / 180;
        const cv::Point2d a = anchors[slot];
        Frame f{px * size - sc * (std::cos(ang) * a.x + std::sin(ang) * a.y),
                py * size - sc * (-std::sin(ang) * a.x + std::cos(ang) * a.y), sc, std::cos(ang), std::sin(ang), 1.0};
        Layer L(f, size);
        switch (slotPart(slot)) {
        case Beak: drawBeak(L, type); break;
        case Eyes: drawEyes(L, type); break;
        case Feet: drawFeet(L, type); break;
        case Tail: drawTail(L, type); break;
        default: drawWings(L, type); break;
        }
        L.color.copyTo(bg, L.mask);
    }
    return bg;
}

/// Lighting: a gain and a linear gradient over the whole image (a function of position only,
/// so a removed part's pixels are lit exactly as the background there).
void applyLight(cv::Mat& img, const BirdParams& p) {
    const int size = img.rows;
    const double ca = std::cos(p.lightAngle), sa = std::sin(p.lightAngle);
    for (int y = 0; y < size; ++y) {
        auto* row = img.ptr<cv::Vec3b>(y);
        for (int x = 0; x < size; ++x) {
            const double g = p.light * (1 + p.lightSlope * ((x + 0.5) / size - 0.5) * ca + p.lightSlope * ((y + 0.5) / size - 0.5) * sa);
            for (int ch = 0; ch < 3; ++ch) row[x][ch] = cv::saturate_cast<uint8_t>(row[x][ch] * g);
        }
    }
}

std::array<uint8_t, 3> hsvColour(Rng& r) {
    cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(r.range(0, 180), r.range(60, 150), r.range(120, 230))), rgb;
    cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
    const auto v = rgb.at<cv::Vec3b>(0, 0);
    return {v[0], v[1], v[2]};
}

constexpr const char* kVersion = "funnybirds-v2";

void checkOptions(const Options& o, const std::string& name) {
    if (o.images < kClasses || o.images > 1000000)
        throw Error(name + ": images must be in 50..1000000 (one per class at least), got " + std::to_string(o.images));
    if (o.size < 32 || o.size > 1024) throw Error(name + ": size must be in 32..1024 pixels, got " + std::to_string(o.size));
}

}  // namespace

const char* partName(int id) {
    static const char* const n[kPartIds] = {"background", "body", "head", "beak", "eyes", "feet", "tail", "wings"};
    return id >= 0 && id < kPartIds ? n[id] : "?";
}
int typeCount(int slot) { return slot >= 0 && slot < kSlots ? kTypeCounts[slot] : 0; }
const char* typeName(int slot, int type) {
    return slot >= 0 && slot < kSlots && type >= 0 && type < kTypeCounts[slot] ? kTypeNames[slot][type] : "?";
}

const std::vector<ClassDef>& classes() {
    static const std::vector<ClassDef> c = makeClasses();
    return c;
}

int classDistance(int a, int b) {
    const auto& c = classes();
    int d = 0;
    for (int s = 0; s < kSlots; ++s) d += c.at(size_t(a)).types[size_t(s)] != c.at(size_t(b)).types[size_t(s)];
    return d;
}

std::vector<uint32_t> minimalSufficientSets(int cls) {
    const auto& cs = classes();
    const auto& me = cs.at(size_t(cls)).types;
    std::vector<uint32_t> sufficient;
    for (uint32_t m = 1; m < (1u << kSlots); ++m) {
        bool unique = true;
        for (size_t o = 0; o < cs.size() && unique; ++o) {
            if (int(o) == cls) continue;
            bool agrees = true;
            for (int s = 0; s < kSlots; ++s)
                if ((m >> s & 1) && cs[o].types[size_t(s)] != me[size_t(s)]) agrees = false;
            if (agrees) unique = false;
        }
        if (unique) sufficient.push_back(m);
    }
    std::vector<uint32_t> minimal;
    for (uint32_t m : sufficient) {
        bool hasSub = false;
        for (uint32_t o : sufficient)
            if (o != m && (o & m) == o) hasSub = true;
        if (!hasSub) minimal.push_back(m);
    }
    return minimal;
}

BirdParams sampleParams(uint64_t seed, uint64_t index, int cls) {
    Rng r(mix(seed, index));
    BirdParams p;
    p.cls = cls;
    p.cx = r.range(0.43, 0.57);
    p.cy = r.range(0.44, 0.54);
    p.scale = r.range(0.17, 0.21);
    p.angle = r.range(-15, 15);
    p.flip = r.uni() < 0.5;
    p.body = hsvColour(r);
    p.head = r.uni() < 0.5 ? p.body : hsvColour(r);
    p.light = r.range(0.8, 1.15);
    p.lightAngle = r.range(0, 2 * CV_PI);
    p.lightSlope = r.range(0, 0.35);
    p.background = r.next();
    return p;
}

cv::Mat renderBackground(const BirdParams& p, int size, std::optional<uint64_t> background) {
    return render(p, size, kAllParts, background).rgb;
}

Rendered render(const BirdParams& p, int size, uint32_t removed, std::optional<uint64_t> background) {
    if (size < 8 || size > 4096) throw Error("funnybirds: image size must be in 8..4096, got " + std::to_string(size));
    if (p.cls < 0 || p.cls >= int(classes().size()))
        throw Error("funnybirds: class " + std::to_string(p.cls) + " out of range 0.." + std::to_string(classes().size() - 1));
    const auto& types = classes()[size_t(p.cls)].types;
    Rendered out;
    out.rgb = drawBackground(background.value_or(p.background), size);
    out.parts = cv::Mat(size, size, CV_8UC1, cv::Scalar(0));
    const double a = p.angle * CV_PI / 180;
    const Frame f{p.cx * size, p.cy * size, p.scale * size, std::cos(a), std::sin(a), p.flip ? -1.0 : 1.0};
    // Painter's order: what lies behind first.
    const int order[] = {Tail, Feet, Body, Head, Beak, Eyes, Wings};
    for (int id : order) {
        if (removed & partBit(id)) continue;
        Layer L(f, size);
        switch (id) {
        case Body: drawBody(L, p); break;
        case Head: drawHead(L, p); break;
        case Beak: drawBeak(L, types[0]); break;
        case Eyes: drawEyes(L, types[1]); break;
        case Feet: drawFeet(L, types[2]); break;
        case Tail: drawTail(L, types[3]); break;
        default: drawWings(L, types[4]); break;
        }
        L.color.copyTo(out.rgb, L.mask);
        out.parts.setTo(cv::Scalar(id), L.mask);
    }
    applyLight(out.rgb, p);
    return out;
}

// ---- names, the cache --------------------------------------------------------------------

bool isFunnyBirdsName(const std::string& name) { return name == "funnybirds" || name.rfind("funnybirds:", 0) == 0; }

Options parseName(const std::string& name) {
    if (!isFunnyBirdsName(name)) throw Error(name + ": not a funnybirds dataset name");
    Options o;
    if (name.size() > 11) {
        std::stringstream ss(name.substr(11));
        for (std::string kv; std::getline(ss, kv, ',');) {
            const auto eq = kv.find('=');
            const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
            size_t used = 0;
            long long n = -1;
            try {
                n = std::stoll(v, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (eq == std::string::npos || used != v.size() || v.empty() || n < 0)
                throw Error(name + ": '" + kv + "' is not KEY=N with a non-negative integer (keys: images, size, seed)");
            if (k == "images") o.images = int(std::min<long long>(n, INT32_MAX));
            else if (k == "size") o.size = int(std::min<long long>(n, INT32_MAX));
            else if (k == "seed") o.seed = uint64_t(n);
            else throw Error(name + ": unknown option '" + k + "' (keys: images, size, seed)");
        }
    }
    checkOptions(o, name);
    return o;
}

std::string nameOf(const Options& o) {
    const Options d;
    std::string s;
    auto add = [&s](const std::string& kv) { s += (s.empty() ? ":" : ",") + kv; };
    if (o.images != d.images) add("images=" + std::to_string(o.images));
    if (o.size != d.size) add("size=" + std::to_string(o.size));
    if (o.seed != d.seed) add("seed=" + std::to_string(o.seed));
    return "funnybirds" + s;
}

int classOfIndex(uint64_t index) { return int(index % kClasses); }
bool isTestIndex(uint64_t index) { return (index / kClasses) % 5 == 4; }

std::string cacheFolder(const Options& o) {
    std::string base;
    if (const char* e = std::getenv("PQW_CACHE_DIR"); e && *e) base = e;
    else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) base = std::string(x) + "/protoquant-workbench";
    else if (const char* h = std::getenv("HOME"); h && *h) base = std::string(h) + "/.cache/protoquant-workbench";
    else base = (fs::temp_directory_path() / "protoquant-workbench").string();
    return (fs::path(base) / (std::string(kVersion) + "-" + std::to_string(o.images) + "-" + std::to_string(o.size) + "-" +
                              std::to_string(o.seed)))
        .string();
}

namespace {

bool isComplete(const std::string& folder, const Options& o) {
    std::error_code ec;
    const fs::path idx = fs::path(folder) / "index.json";
    if (!fs::is_regular_file(idx, ec)) return false;
    try {
        const auto j = nlohmann::json::parse(readFile(idx.string()));
        return j.at("version") == kVersion && j.at("images") == o.images && j.at("size") == o.size &&
               j.at("seed") == o.seed;
    } catch (const std::exception&) {
        return false;
    }
}

nlohmann::json paramsJson(const BirdParams& p) {
    return {{"class", p.cls},          {"cx", p.cx},       {"cy", p.cy},
            {"scale", p.scale},        {"angle", p.angle}, {"flip", p.flip},
            {"body", p.body},          {"head", p.head},   {"light", p.light},
            {"light_angle", p.lightAngle}, {"light_slope", p.lightSlope}, {"background", p.background}};
}

}  // namespace

std::string ensureGenerated(const Options& o, JobContext* ctx) {
    checkOptions(o, nameOf(o));
    const std::string folder = cacheFolder(o);
    if (isComplete(folder, o)) return folder;
    std::error_code ec;
    const fs::path parent = fs::path(folder).parent_path();
    fs::create_directories(parent, ec);
    if (ec) throw Error(parent.string() + ": cannot create the dataset cache folder: " + ec.message() + " (set PQW_CACHE_DIR)");
    const fs::path tmp = parent / (".tmp-" + fs::path(folder).filename().string() + "-" + std::to_string(::getpid()));
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp / "images", ec);
    if (!ec) fs::create_directories(tmp / "parts", ec);
    if (ec) throw Error(tmp.string() + ": cannot create: " + ec.message());
    std::atomic<int> next{0}, done{0};
    std::atomic<bool> stop{false};
    std::string failure;
    std::mutex mu;
    auto work = [&] {
        // PNG encoding dominates the time (zlib + libpng filters ~55 % with default settings);
        // Huffman-only for the noisy images, run-length for the flat part maps.
        const std::vector<int> params{cv::IMWRITE_PNG_COMPRESSION, 1, cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY};
        const std::vector<int> partParams{cv::IMWRITE_PNG_COMPRESSION, 1, cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_RLE};
        for (int i; !stop && (i = next++) < o.images;) {
            try {
                const auto p = sampleParams(o.seed, uint64_t(i), classOfIndex(uint64_t(i)));
                const auto r = render(p, o.size);
                cv::Mat bgr;
                cv::cvtColor(r.rgb, bgr, cv::COLOR_RGB2BGR);
                const std::string n = std::to_string(i) + ".png";
                if (!cv::imwrite((tmp / "images" / n).string(), bgr, params) ||
                    !cv::imwrite((tmp / "parts" / n).string(), r.parts, partParams))
                    throw Error((tmp / n).string() + ": cannot write the image");
            } catch (const std::exception& e) {
                std::lock_guard<std::mutex> g(mu);
                if (failure.empty()) failure = e.what();
                stop = true;
            }
            ++done;
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < 2; ++t) pool.emplace_back(work);
    while (done < o.images && !stop) {
        if (ctx) {
            ctx->progress(double(done) / o.images, "drawing birds");
            if (ctx->isCancelled()) stop = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& t : pool) t.join();
    if (stop) {
        fs::remove_all(tmp, ec);
        if (!failure.empty()) throw Error(failure);
        throw Cancelled();
    }
    nlohmann::json j = {{"version", kVersion}, {"images", o.images}, {"size", o.size}, {"seed", o.seed}};
    nlohmann::json classesJ = nlohmann::json::array();
    for (const auto& c : classes()) classesJ.push_back({{"name", c.name}, {"types", c.types}});
    j["classes"] = classesJ;
    nlohmann::json ps = nlohmann::json::array();
    for (int i = 0; i < o.images; ++i) ps.push_back(paramsJson(sampleParams(o.seed, uint64_t(i), classOfIndex(uint64_t(i)))));
    j["params"] = ps;
    writeFileAtomic((tmp / "index.json").string(), j.dump());
    fs::remove_all(folder, ec);  // an incomplete or stale set of the same name
    fs::rename(tmp, folder, ec);
    if (ec) {
        fs::remove_all(tmp);
        if (!isComplete(folder, o)) throw Error(folder + ": cannot move the generated dataset in place: " + ec.message());
    }
    if (ctx) ctx->progress(1.0, "drawing birds");
    return folder;
}

Options optionsOf(const Dataset& ds) {
    if (ds.format() != "funnybirds") throw Error(ds.name() + ": not a funnybirds dataset (format " + ds.format() + ")");
    return parseName(ds.spec().path);
}

BirdParams paramsOf(const Dataset& ds, size_t sample) {
    const Options o = optionsOf(ds);
    const Sample& s = ds.sample(sample);
    return sampleParams(o.seed, uint64_t(s.id), classOfIndex(uint64_t(s.id)));
}

cv::Mat partMapOf(const Dataset& ds, size_t sample) {
    const Options o = optionsOf(ds);
    const Sample& s = ds.sample(sample);
    const std::string path = (fs::path(cacheFolder(o)) / "parts" / (std::to_string(s.id) + ".png")).string();
    cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
    if (m.empty() || m.type() != CV_8UC1) throw Error(path + ": missing or not an 8-bit part map");
    return m;
}

}  // namespace pqw::funnybirds
