#pragma once
// Small fixtures written by the tests themselves.
#include <QDir>
#include <QString>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <string>

namespace fixtures {

/// Writes an image folder root/<class>/<i>.png with `perClass` images per class; each image
/// is a distinct pattern (class-dependent colour, per-image gradient) of side `size`.
inline void writeImageFolder(const QString& root, int classes, int perClass, int size = 24) {
    for (int c = 0; c < classes; ++c) {
        const QString dir = root + QStringLiteral("/class_%1").arg(c);
        QDir().mkpath(dir);
        for (int i = 0; i < perClass; ++i) {
            cv::Mat img(size, size, CV_8UC3);
            for (int y = 0; y < size; ++y)
                for (int x = 0; x < size; ++x)
                    img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((c * 80 + x * 5) % 256),
                                                        static_cast<uchar>((i * 30 + y * 7) % 256),
                                                        static_cast<uchar>((c * 40 + i * 11 + x * y) % 256));
            cv::imwrite((dir + QStringLiteral("/img_%1.png").arg(i)).toStdString(), img);
        }
    }
}

/// Writes a file that starts like a PNG but is cut short: it passes the cheap magic check
/// at open time and fails to decode.
inline void writeTruncatedPng(const QString& path) {
    std::ofstream f(path.toStdString(), std::ios::binary);
    const unsigned char magic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    f.write(reinterpret_cast<const char*>(magic), sizeof magic);
}

}  // namespace fixtures
