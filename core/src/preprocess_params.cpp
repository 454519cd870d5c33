// The preprocessing parameters: what the user chose (InputPreprocessing), its checks, its text
// and the cache fingerprint of the pixels it gives. Kept apart from the image code (OpenCV)
// so the torch-free, OpenCV-free parsers that read it (checkpoints, caches, projects; the
// fuzz targets) link without the imaging library.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pqw/error.h"
#include "pqw/preprocess.h"

namespace pqw {

namespace {

std::string num(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
    return buf;
}

}  // namespace

Preprocess InputPreprocessing::at(int size) const {
    Preprocess p;
    p.size = size;
    p.mean = mean;
    p.stdev = stdev;
    p.pilBilinear = true;
    if (centerCrop) {
        p.resize = resize > 0 ? resize : static_cast<int>(std::lround(size * 256.0 / 224.0));
        if (p.resize < size)
            throw Error("preprocessing: resize " + std::to_string(p.resize) + " is smaller than the " +
                        std::to_string(size) + " px centre crop");
    }
    return p;
}

std::string InputPreprocessing::describe() const {
    auto three = [](const std::array<float, 3>& v) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%g,%g,%g", double(v[0]), double(v[1]), double(v[2]));
        return std::string(buf);
    };
    std::string s = "mean " + three(mean) + " std " + three(stdev) + ", ";
    if (centerCrop)
        s += "resize " + (resize > 0 ? std::to_string(resize) : std::string("size x 256/224")) + " + centre crop";
    else
        s += "resized to the input size (no crop)";
    return s + " (torchvision resampling)";
}

void InputPreprocessing::validate() const {
    for (int c = 0; c < 3; ++c) {
        if (!(mean[size_t(c)] >= 0.f && mean[size_t(c)] <= 1.f))
            throw Error("preprocessing: mean " + num(mean[size_t(c)]) +
                        " is not on the 0..1 pixel scale (ImageNet: 0.485,0.456,0.406)");
        if (!(stdev[size_t(c)] > 0.f && stdev[size_t(c)] <= 1.f))
            throw Error("preprocessing: std " + num(stdev[size_t(c)]) +
                        " must be in (0, 1] on the 0..1 pixel scale (ImageNet: 0.229,0.224,0.225)");
    }
    if (resize < 0 || resize > 8192) throw Error("preprocessing: resize " + std::to_string(resize) + " is out of range");
    if (resize > 0 && !centerCrop) throw Error("preprocessing: resize is the shorter side before a centre crop; "
                                               "without the crop images are resized straight to the input size");
}

std::array<float, 3> parseRgb(const std::string& text, const std::string& what) {
    std::array<float, 3> v{};
    size_t pos = 0;
    for (int c = 0; c < 3; ++c) {
        const size_t end = c < 2 ? text.find(',', pos) : text.size();
        if (end == std::string::npos) throw Error(what + " '" + text + "': give three numbers R,G,B");
        const std::string part = text.substr(pos, end - pos);
        char* stop = nullptr;
        v[size_t(c)] = std::strtof(part.c_str(), &stop);
        if (part.empty() || stop != part.c_str() + part.size() || !std::isfinite(v[size_t(c)]))
            throw Error(what + " '" + text + "': '" + part + "' is not a number (give R,G,B)");
        pos = end + 1;
    }
    if (text.find(',', pos > text.size() ? text.size() : pos) != std::string::npos)
        throw Error(what + " '" + text + "': give three numbers R,G,B");
    return v;
}

std::string Preprocess::fingerprint() const {
    std::string s = "pp1 size=" + std::to_string(size) + " scale=" + num(scale) + " mean=" + num(mean[0]) + "," +
                    num(mean[1]) + "," + num(mean[2]) + " std=" + num(stdev[0]) + "," + num(stdev[1]) + "," +
                    num(stdev[2]) + (pilBilinear ? " resize=pil-bilinear" : " resize=area-down,linear-up") +
                    (resize > 0 ? " shorter=" + std::to_string(resize) + " crop=center" : std::string()) +
                    " augment=" + (augment ? "1" : "0");
    if (augment) s += " cropmin=" + num(cropScaleMin) + " flip=0.5";
    return s;
}

}  // namespace pqw
