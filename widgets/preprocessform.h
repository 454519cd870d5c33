#pragma once
// The backbone's preprocessing in the Model & Features view: the kind's default, or the user's
// mean / std (0..1 scale), resize + centre crop as torchvision (pqw::InputPreprocessing; the
// same as pqw's --mean --std --resize --crop).
#include <QWidget>

#include <optional>

#include "pqw/preprocess.h"

class QCheckBox;
class QComboBox;
class QLineEdit;
class QSpinBox;

namespace pqwgui {

class PreprocessForm : public QWidget {
    Q_OBJECT
public:
    explicit PreprocessForm(QWidget* parent = nullptr);
    /// The choice; nullopt = the backbone kind's default. Throws pqw::Error (one line) on bad fields.
    std::optional<pqw::InputPreprocessing> choice() const;
    void setChoice(const std::optional<pqw::InputPreprocessing>& p);

Q_SIGNALS:
    void changed();

private:
    void updateEnabled();
    QCheckBox* custom_;
    QLineEdit* mean_;
    QLineEdit* std_;
    QComboBox* crop_;
    QSpinBox* resize_;
};

}  // namespace pqwgui
