#include "pqw/render.h"

#include <algorithm>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pqw/error.h"
#include "pqw/util.h"

namespace pqw {

namespace {

const cv::Scalar kPalette[] = {{230, 25, 75}, {60, 180, 75}, {0, 130, 200}, {245, 130, 48}, {145, 30, 180},
                               {70, 240, 240}, {240, 50, 230}, {210, 245, 60}};

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale = 0.4, cv::Scalar colour = {20, 20, 20}) {
    cv::putText(img, s, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv::LINE_AA);
}

cv::Mat fitSquare(const cv::Mat& rgb, int side) {
    cv::Mat out;
    cv::resize(rgb, out, cv::Size(side, side), 0, 0, rgb.cols > side ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

}  // namespace

Box inputBoxToImage(const Box& b, int inputSize, int imageW, int imageH) {
    const float sx = float(imageW) / float(inputSize), sy = float(imageH) / float(inputSize);
    return Box{b.x * sx, b.y * sy, b.w * sx, b.h * sy};
}

cv::Mat patchCrop(const Dataset& ds, const PatchRef& p, int inputSize, int side) {
    const cv::Mat img = ds.loadImage(p.sample);
    const Box b = inputBoxToImage(p.box, inputSize, img.cols, img.rows);
    cv::Rect r(static_cast<int>(b.x), static_cast<int>(b.y), std::max(1, static_cast<int>(b.w + 0.5f)),
               std::max(1, static_cast<int>(b.h + 0.5f)));
    r &= cv::Rect(0, 0, img.cols, img.rows);
    if (r.empty()) r = cv::Rect(0, 0, img.cols, img.rows);
    cv::Mat out;
    cv::resize(img(r), out, cv::Size(side, side), 0, 0, cv::INTER_NEAREST);
    return out;
}

cv::Mat renderPrototypeStrip(const Dataset& ds, const PrototypeInfo& info, const std::vector<std::string>& classes,
                             int inputSize, int side) {
    const int n = std::max<int>(1, static_cast<int>(info.topPatches.size()));
    const int header = 34, caption = 16, pad = 4;
    cv::Mat out(header + side + caption, pad + n * (side + pad), CV_8UC3, cv::Scalar(255, 255, 255));
    // Strongest classes by weight.
    std::vector<size_t> order(info.classWeights.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return info.classWeights[a] > info.classWeights[b]; });
    std::string cls;
    for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i) {
        if (info.classWeights[order[i]] <= 0) break;
        cls += (i ? ", " : "") + classes.at(order[i]) + " " + fmt("%.2f", info.classWeights[order[i]]);
    }
    text(out, "prototype " + std::to_string(info.index) + "   usage " + std::to_string(info.usage), {pad, 14}, 0.45);
    text(out, cls.empty() ? "no class uses it" : "weights: " + cls, {pad, 29}, 0.38, {80, 80, 80});
    for (int i = 0; i < static_cast<int>(info.topPatches.size()); ++i) {
        const auto& p = info.topPatches[static_cast<size_t>(i)];
        cv::Mat crop = patchCrop(ds, p, inputSize, side);
        crop.copyTo(out(cv::Rect(pad + i * (side + pad), header, side, side)));
        text(out, fmt("%.3f", p.activation), {pad + i * (side + pad) + 2, header + side + 12}, 0.36);
    }
    return out;
}

cv::Mat renderLocalExplanation(const cv::Mat& rgb, const LocalExplanation& ex, const std::vector<PrototypeInfo>* index,
                               const Dataset* trainData, const std::vector<std::string>& classes, int inputSize,
                               int maxPrototypes) {
    const int side = 336, thumb = 64, pad = 8, rowH = thumb + 8;
    const int shown = std::min<int>(maxPrototypes, static_cast<int>(ex.evidence.size()));
    const int thumbs = (index && trainData) ? 3 : 0;
    const int rightW = 170 + thumbs * (thumb + 4);
    const int h = std::max(side + 40, 40 + shown * rowH + pad);
    cv::Mat out(h, pad + side + pad + rightW, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::Mat img = fitSquare(rgb, side);
    const double scale = double(side) / inputSize;
    for (int i = shown - 1; i >= 0; --i) {
        const auto& e = ex.evidence[static_cast<size_t>(i)];
        cv::Rect r(static_cast<int>(e.box.x * scale), static_cast<int>(e.box.y * scale),
                   static_cast<int>(e.box.w * scale), static_cast<int>(e.box.h * scale));
        cv::rectangle(img, r, kPalette[i % 8], i == 0 ? 3 : 2);
        text(img, "#" + std::to_string(e.prototype), {r.x + 3, r.y + 14}, 0.45, kPalette[i % 8]);
    }
    img.copyTo(out(cv::Rect(pad, 32, side, side)));
    const std::string pred = classes.at(static_cast<size_t>(ex.predicted));
    const std::string expl = classes.at(static_cast<size_t>(ex.explainedClass));
    text(out, "predicted: " + pred + fmt("  (p = %.2f)", ex.probabilities.at(static_cast<size_t>(ex.predicted))),
         {pad, 14}, 0.45);
    text(out, "explaining: " + expl + fmt("  logit %.3f = sum of the scores", ex.logits.at(static_cast<size_t>(ex.explainedClass))),
         {pad, 27}, 0.38, {80, 80, 80});
    const int x0 = pad + side + pad;
    text(out, "this looks like that:", {x0, 27}, 0.42);
    for (int i = 0; i < shown; ++i) {
        const auto& e = ex.evidence[static_cast<size_t>(i)];
        const int y = 36 + i * rowH;
        cv::rectangle(out, cv::Rect(x0, y + 4, 10, 10), kPalette[i % 8], cv::FILLED);
        text(out, "#" + std::to_string(e.prototype), {x0 + 14, y + 13}, 0.42);
        text(out, fmt("score %.3f", e.score), {x0 + 14, y + 28}, 0.36, {80, 80, 80});
        text(out, fmt("w %.2f", e.weight) + fmt(" x pres %.2f", e.presence), {x0 + 14, y + 42}, 0.36, {80, 80, 80});
        if (thumbs && static_cast<size_t>(e.prototype) < index->size()) {
            const auto& info = (*index)[static_cast<size_t>(e.prototype)];
            for (int t = 0; t < std::min<int>(thumbs, static_cast<int>(info.topPatches.size())); ++t) {
                cv::Mat c = patchCrop(*trainData, info.topPatches[static_cast<size_t>(t)], inputSize, thumb);
                c.copyTo(out(cv::Rect(x0 + 170 + t * (thumb + 4), y, thumb, thumb)));
            }
        }
    }
    return out;
}

void writePng(const std::string& path, const cv::Mat& rgb) {
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> buf;
    if (!cv::imencode(".png", bgr, buf)) throw Error(path + ": PNG encoding failed");
    writeFileAtomic(path, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

std::string npyBytes(const std::vector<float>& values, const std::vector<int64_t>& shape) {
    static_assert(sizeof(float) == 4, "float32");
    const uint32_t probe = 1;
    if (*reinterpret_cast<const uint8_t*>(&probe) != 1) throw Error("npy: this build writes little-endian hosts only");
    int64_t n = 1;
    std::string dims;
    for (int64_t d : shape) {
        if (d < 0) throw Error("npy: negative dimension");
        n *= d;
        dims += std::to_string(d) + ", ";
    }
    if (n != static_cast<int64_t>(values.size()))
        throw Error("npy: " + std::to_string(values.size()) + " values do not fill the shape");
    if (shape.size() != 1 && !dims.empty()) dims.resize(dims.size() - 2);  // (3,) keeps its comma
    else if (shape.size() == 1) dims.resize(dims.size() - 1);
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, '\n' last.
    const size_t total = ((10 + header.size() + 1 + 63) / 64) * 64;
    header.append(total - 10 - header.size() - 1, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>((header.size() >> 8) & 0xff);
    out += header;
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    return out;
}

void writeNpy(const std::string& path, const std::vector<float>& values, const std::vector<int64_t>& shape) {
    writeFileAtomic(path, npyBytes(values, shape));
}

}  // namespace pqw
