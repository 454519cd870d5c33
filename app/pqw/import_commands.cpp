// pqw import-protoquant: a checkpoint of the official ProtoQuant code as a workbench model.
#include "commands.h"
#include "common.h"
#include "pqw/protoquant_import.h"

namespace pqwcli {

void registerImportCommands(CLI::App& app) {
    auto* c = app.add_subcommand("import-protoquant",
                                 "Import a checkpoint of the official ProtoQuant code (stage 2, or a stage-1 codebook)");
    auto opt = std::make_shared<pqw::ProtoQuantImportOptions>();
    auto out = std::make_shared<std::string>();
    auto dryRun = std::make_shared<bool>(false);
    auto pre = std::make_shared<PreprocessArgs>();
    c->add_option("checkpoint", opt->checkpoint, "RUN.pth (torch.save of the official code)")->required();
    c->add_option("--config", opt->config, "Hydra config (default: .hydra/config.yaml beside the checkpoint, if any)");
    c->add_option("--classes", opt->classesFile, "Class names, one per line, in the training order");
    c->add_option("--dataset", opt->datasetDir, "Or: take the class names from this dataset");
    c->add_option("--backbone,-b", opt->backbone, "Stage-1 codebooks: the backbone .pth (torchvision classifier)");
    c->add_option("--tau", opt->tau, "Softmax temperature over prototypes (not stored in the file)")->capture_default_str();
    c->add_option("--size", opt->inputSize, "Input size in pixels")->capture_default_str()->check(CLI::Range(16, 4096));
    c->add_option("--out,-o", *out, "Workbench model file (.pqwh)");
    c->add_flag("--dry-run", *dryRun, "Only print what was recognised");
    pre->add(c);  // --crop center: the official validation transform, Resize(size x 256/224) + CenterCrop(size)
    c->callback([opt, out, dryRun, pre] {
        pqw::initTorchThreads();
        opt->preprocess = pre->choice();
        // What was recognised comes first, before anything runs.
        for (const auto& l : pqw::inspectProtoQuant(*opt).lines()) std::cout << l << "\n";
        if (*dryRun) return;
        if (out->empty()) throw pqw::Error("import-protoquant: give the output file (-o model.pqwh) or --dry-run");
        const pqw::OutputLock lock(*out, "import into it");
        const pqw::ProtoModel m = pqw::importProtoQuant(*opt);
        m.save(*out);
        std::cout << "wrote " << *out << " (backbone " << m.backboneId() << ", feature map " << m.featureShape()[0] << "x"
                  << m.featureShape()[1] << "x" << m.featureShape()[2] << " at " << m.inputSize() << " px)\n"
                  << "preprocessing: " << pqw::describePreprocessing(m.backboneSpec()) << "\n"
                  << "next: pqw extract --backbone " << m.backboneSpec().path << " --size " << m.inputSize()
                  << preprocessFlags(m.backboneSpec()) << " --dataset DIR -o CACHE, then use the model with that cache\n";
    });
}

}  // namespace pqwcli
