// PyTorch checkpoints: the restricted .pth reader, native torchvision ConvNeXt / ResNet / ViT from a
// state dict, against PyTorch's own outputs written by tests/fixtures/gen_pytorch_checkpoints.py
// (tests/pth.cmake runs it at build time).
#include <QtTest/QtTest>

#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "backbone_impl.h"
#include "cli_runner.h"
#include "pqw/backbone.h"
#include "pqw/backbone_files.h"
#include "pqw/error.h"
#include "pqw/omenn.h"
#include "pqw/protoquant_import.h"
#include "nn/transformer.h"
#include "pqw/util.h"
#include "protoquant/model_impl.h"
#include "pth/arch.h"
#include "pth/pickle.h"
#include "pth/pth.h"

using json = nlohmann::json;

namespace {

std::string fx(const std::string& name) { return qEnvironmentVariable("PQW_PTH_FIXTURES").toStdString() + "/" + name; }

json manifest() { return json::parse(pqw::readFile(fx("manifest.json"))); }

/// A tensor PyTorch wrote (float32, C order, shape from the manifest).
torch::Tensor reference(const std::string& name) {
    const auto shape = manifest()["tensors"].at(name).get<std::vector<int64_t>>();
    const std::string bytes = pqw::readFile(fx(name + ".bin"));
    auto t = torch::empty(shape, torch::kFloat32);
    if (static_cast<size_t>(t.numel()) * 4 != bytes.size()) throw std::runtime_error("bad fixture " + name);
    std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    return t;
}

/// max |a - b| relative to max |b|.
double relErr(const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

/// A byte string from a literal (embedded NULs kept).
template <size_t N>
std::string B(const char (&s)[N]) {
    return std::string(s, N - 1);
}

std::string errorOf(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const pqw::Error& e) {
        return e.what();
    }
    return "(no error)";
}

torch::Tensor features(const std::string& file, const std::string& cut = {}) {
    pqw::BackboneSpec s;
    s.kind = "pth";
    s.path = fx(file);
    s.cutLayer = cut;
    auto bb = pqw::Backbone::open(s);
    const auto x = reference("input");
    const int size = static_cast<int>(x.size(2));
    const auto shape = bb.featureShape(size);
    auto out = torch::empty({1, shape[0], shape[1], shape[2]});
    bb.forward(x.data_ptr<float>(), 1, size, out.data_ptr<float>());
    return out;
}

}  // namespace

class TestPth : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void readsStateDictsAndPayloads() {
        auto sd = pqw::pth::readCheckpoint(fx("convnext.pth"));
        QCOMPARE(sd.container, std::string("state_dict"));
        QVERIFY(!sd.legacy);
        QCOMPARE(sd.need("features.0.0.weight", {8, 3, 4, 4}).size(0), 8);
        QVERIFY(sd.has("classifier.2.weight"));
        QCOMPARE(sd.locations, std::vector<std::string>{"cpu"});

        auto pl = pqw::pth::readCheckpoint(fx("pipnet_convnext.pth"));
        QCOMPARE(pl.container, std::string("payload:model"));
        QCOMPARE(pl.numbers.at("epoch"), 7.0);
        QCOMPARE(pl.numbers.at("val_top1"), 83.25);  // a 0-dim tensor in the file
        QCOMPARE(pl.need("codes", {12, 32}).size(1), 32);
        QVERIFY(pl.has("backbone.1.0.layer_scale"));
    }

    void cudaLocationsLoadOnTheCpu() {
        auto a = pqw::pth::readCheckpoint(fx("pipnet_convnext.pth"));
        auto b = pqw::pth::readCheckpoint(fx("pipnet_convnext_cuda.pth"));
        QCOMPARE(b.locations, std::vector<std::string>{"cuda:0"});
        QCOMPARE(a.tensors.size(), b.tensors.size());
        for (size_t i = 0; i < a.tensors.size(); ++i) {
            QCOMPARE(a.tensors[i].first, b.tensors[i].first);
            QVERIFY(b.tensors[i].second.device().is_cpu());
            QVERIFY(torch::equal(a.tensors[i].second, b.tensors[i].second));
        }
    }

    void legacyFormatEqualsZip() {
        auto z = pqw::pth::readCheckpoint(fx("convnext.pth"));
        auto l = pqw::pth::readCheckpoint(fx("convnext_legacy.pth"));
        QVERIFY(l.legacy);
        QCOMPARE(z.tensors.size(), l.tensors.size());
        for (size_t i = 0; i < z.tensors.size(); ++i) {
            QCOMPARE(z.tensors[i].first, l.tensors[i].first);
            QVERIFY(torch::equal(z.tensors[i].second, l.tensors[i].second));
        }
    }

    void refusesForbiddenGlobalsByName() {
        const std::string e = errorOf([] { pqw::pth::readCheckpoint(fx("bad_reduce.pth")); });
        QVERIFY2(e.find(fx("bad_reduce.pth")) == 0, e.c_str());
        QVERIFY2(e.find("'posix.system'") != std::string::npos, e.c_str());  // os.system's real name
        QVERIFY2(e.find('\n') == std::string::npos, e.c_str());
        // The same through the backbone and the kind sniffing.
        QCOMPARE(pqw::backboneKindForPath(fx("bad_reduce.pth")), std::string("pth"));
        pqw::BackboneSpec s;
        s.kind = "pth";
        s.path = fx("bad_reduce.pth");
        QVERIFY(errorOf([&] { pqw::Backbone::open(s); }).find("posix.system") != std::string::npos);
    }

    void hostilePicklesInMemory() {
        // GLOBAL builtins.eval, NEWOBJ, unknown opcode, truncated, deep nesting, a cycle.
        const std::pair<std::string, std::string> cases[] = {
            {B("\x80\x02" "cbuiltins\neval\nq\x00."), "'builtins.eval'"},
            {B("\x80\x02" "ccollections\nOrderedDict\n)\x81."), "NEWOBJ"},
            {B("\x80\x02" "\xff."), "opcode 0xff"},
            {B("\x80\x02" "X\x10\x00\x00\x00" "ab"), "truncated"},
            {B("\x80\x02}"), "without STOP"},
            {B("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(X\x01\x00\x00\x00" "0tR."), "unexpected arguments"},
        };
        for (const auto& [bytes, want] : cases) {
            const std::string e = errorOf([&] { pqw::pth::parsePickle(bytes, "mem.pkl"); });
            QVERIFY2(e.rfind("mem.pkl: ", 0) == 0 && e.find(want) != std::string::npos, e.c_str());
        }
        std::string deep = "\x80\x02";
        for (int i = 0; i < 200; ++i) deep += "]";
        for (int i = 0; i < 199; ++i) deep += "a";
        deep += ".";
        QVERIFY(errorOf([&] { pqw::pth::parsePickle(deep, "deep.pkl"); }).find("nested too deeply") != std::string::npos);
        // A list that holds itself (memo): parsed without leaking, bounded depth.
        const std::string cyc = B("\x80\x02]q\x00h\x00" "a.");
        auto p = pqw::pth::parsePickle(cyc, "cycle.pkl");
        QCOMPARE(p.root->items.size(), size_t(1));
        QCOMPARE(p.root->items[0], p.root);
    }

    void truncatedAndNonCheckpointFiles() {
        std::string e = errorOf([] { pqw::pth::readCheckpoint(fx("bad_truncated.pth")); });
        QVERIFY2(e.rfind(fx("bad_truncated.pth") + ": ", 0) == 0 && e.find("truncated") != std::string::npos, e.c_str());
        QVERIFY2(e.find('\n') == std::string::npos, e.c_str());
        const std::string junk = QDir::tempPath().toStdString() + "/pqw_test_junk.pth";
        pqw::writeFileAtomic(junk, "this is not a checkpoint");
        e = errorOf([&] { pqw::pth::readCheckpoint(junk); });
        QVERIFY2(e.find("not a PyTorch checkpoint") != std::string::npos && e.find("re-save") != std::string::npos, e.c_str());
        e = errorOf([] { pqw::pth::readCheckpoint("/nonexistent/x.pth"); });
        QVERIFY2(e.rfind("/nonexistent/x.pth: ", 0) == 0, e.c_str());
    }

    void shapesFittingNoArchitecture() {
        pqw::BackboneSpec s;
        s.kind = "pth";
        s.path = fx("bad_shapes.pth");
        const std::string e = errorOf([&] { pqw::Backbone::open(s); });
        QVERIFY2(e.rfind(fx("bad_shapes.pth") + ": ", 0) == 0 && e.find("fit no known backbone") != std::string::npos,
                 e.c_str());
    }

    void missingKeysAreNamed() {
        // A ConvNeXt state dict without one block's LayerNorm bias.
        auto ck = pqw::pth::readCheckpoint(fx("convnext.pth"));
        std::vector<std::pair<std::string, torch::Tensor>> kept;
        for (auto& kv : ck.tensors)
            if (kv.first != "features.3.0.block.2.bias") kept.push_back(kv);
        ck.tensors = kept;
        const std::string e = errorOf([&] { pqw::pth::buildBackbone(ck); });
        QVERIFY2(e.find("missing key 'features.3.0.block.2.bias'") != std::string::npos, e.c_str());
    }

    void convnextFeaturesEqualPyTorch() {
        auto ref = reference("convnext.feat");
        for (const char* f : {"convnext.pth", "convnext_legacy.pth", "pipnet_convnext.pth", "pipnet_convnext_cuda.pth",
                              "pipnet_convnext_old.pth"}) {
            auto y = features(f);
            QCOMPARE(y.sizes(), ref.sizes());
            QVERIFY2(relErr(y, ref) < 1e-4, (std::string(f) + " " + std::to_string(relErr(y, ref))).c_str());
        }
        auto a = pqw::pth::buildBackbone(pqw::pth::readCheckpoint(fx("convnext.pth")));
        QCOMPARE(a.family, std::string("convnext"));
        QCOMPARE(a.description, std::string("ConvNeXt, depths 1-1-2-1, widths 8-16-24-32"));
    }

    void resnetFeaturesEqualPyTorch() {
        for (const char* n : {"resnet_basic", "resnet_bottleneck"}) {
            auto ref = reference(std::string(n) + ".feat");
            auto y = features(std::string(n) + ".pth");
            QCOMPARE(y.sizes(), ref.sizes());
            QVERIFY2(relErr(y, ref) < 1e-4, (std::string(n) + " " + std::to_string(relErr(y, ref))).c_str());
        }
        auto y = features("pipnet_resnet.pth");  // the Sequential layout under backbone.
        QVERIFY(relErr(y, reference("resnet_basic.feat")) < 1e-4);
        auto a = pqw::pth::buildBackbone(pqw::pth::readCheckpoint(fx("resnet_bottleneck.pth")));
        QVERIFY2(a.description.find("Bottleneck blocks 1-2-1-1") != std::string::npos, a.description.c_str());
    }

    void vitFeaturesEqualPyTorch() {
        // torchvision classifier, the official torchvision GAP wrapper, timm key names.
        const auto ref = reference("vit.feat");
        for (const char* f : {"vit.pth", "pipnet_vit.pth"}) {
            auto y = features(f);
            QCOMPARE(y.sizes(), ref.sizes());
            QVERIFY2(relErr(y, ref) < 1e-4, (std::string(f) + " " + std::to_string(relErr(y, ref))).c_str());
        }
        // timm's GAP model has no final LayerNorm in forward_features.
        auto t = features("pipnet_vit_timm.pth");
        QVERIFY2(relErr(t, reference("vit_timm.feat")) < 1e-4, std::to_string(relErr(t, reference("vit_timm.feat"))).c_str());
        QVERIFY(relErr(t, ref) > 1e-2);
        const auto a = pqw::pth::buildBackbone(pqw::pth::readCheckpoint(fx("pipnet_vit.pth")));
        QCOMPARE(a.family, std::string("vit"));
        QCOMPARE(a.prefix, std::string("backbone.vit_model.vit."));
        QCOMPARE(a.channels, int64_t(128));
        QVERIFY2(a.description.find("patch 16, 2 layers, width 128, 2 heads, MLP 96, 16 patch tokens") != std::string::npos,
                 a.description.c_str());
        // A cut inside the encoder gives that layer's patch tokens as a map.
        pqw::BackboneSpec s;
        s.kind = "pth";
        s.path = fx("vit.pth");
        s.cutLayer = "encoder.layers.encoder_layer_0";
        auto cut = pqw::Backbone::open(s);
        QCOMPARE(cut.cutLayer(), s.cutLayer);
        QCOMPARE(cut.featureShape(64), (std::array<int64_t, 3>{128, 4, 4}));
        QCOMPARE(cut.stride(), 16);
        // An input size the position embedding does not fit: one line saying which fits.
        s.cutLayer.clear();
        auto full = pqw::Backbone::open(s);
        const std::string e = errorOf([&] { full.featureShape(96); });
        QVERIFY2(e.find("16 patch tokens (64 px)") != std::string::npos && e.find("6 x 6 patches") != std::string::npos,
                 e.c_str());
        // Random weights (the sanity baseline) reach the attention and the position embedding too.
        s.randomWeights = true;
        s.randomSeed = 3;
        auto rnd = pqw::Backbone::open(s);
        const auto ck = pqw::pth::readCheckpoint(fx("vit.pth"));
        const auto& g = *rnd.impl().graph;
        auto att = std::dynamic_pointer_cast<pqw::nn::SelfAttention>(
            g.node(g.indexOf("encoder.layers.encoder_layer_0.self_attention")).module);
        auto tok = std::dynamic_pointer_cast<pqw::nn::PatchTokens>(g.node(g.indexOf("encoder.pos_embedding")).module);
        QVERIFY(att && tok);
        QVERIFY(!torch::allclose(att->inWeight, ck.need("encoder.layers.encoder_layer_0.self_attention.in_proj_weight")));
        QVERIFY(!torch::allclose(tok->position, ck.need("encoder.pos_embedding")));
        QCOMPARE(tok->classToken.abs().max().item<double>(), 0.0);
    }

    void vitHeadsAreInferredOrRefused() {
        // A width whose head count cannot be told (not a multiple of 64): refused by name.
        pqw::pth::Checkpoint ck;
        ck.path = "odd_vit.pth";
        ck.tensors = {{"conv_proj.weight", torch::zeros({96, 3, 16, 16})},
                      {"conv_proj.bias", torch::zeros({96})},
                      {"class_token", torch::zeros({1, 1, 96})},
                      {"encoder.pos_embedding", torch::zeros({1, 5, 96})}};
        const std::string e = errorOf([&] { pqw::pth::buildBackbone(ck); });
        QVERIFY2(e.find("odd_vit.pth: cannot tell the attention heads of a ViT of width 96") == 0, e.c_str());
        // A distilled DeiT (two leading tokens) is refused rather than mis-read.
        ck.tensors = {{"patch_embed.proj.weight", torch::zeros({64, 3, 16, 16})},
                      {"pos_embed", torch::zeros({1, 6, 64})},
                      {"cls_token", torch::zeros({1, 1, 64})},
                      {"dist_token", torch::zeros({1, 1, 64})}};
        const std::string d = errorOf([&] { pqw::pth::buildBackbone(ck); });
        QVERIFY2(d.find("odd_vit.pth: a distilled DeiT") == 0, d.c_str());
    }

    void cutLayersAndIdentity() {
        pqw::BackboneSpec s;
        s.kind = "pth";
        s.path = fx("convnext.pth");
        auto full = pqw::Backbone::open(s);
        const auto layers = full.layers(64);
        QCOMPARE(layers.back().name, std::string("7.0"));
        QCOMPARE(layers.back().outputShape, (std::vector<int64_t>{32, 2, 2}));
        QCOMPARE(full.stride(), 32);
        s.cutLayer = "3.0";  // end of stage 2
        auto cut = pqw::Backbone::open(s);
        QCOMPARE(cut.featureShape(64), (std::array<int64_t, 3>{16, 8, 8}));
        QVERIFY(cut.id() != full.id());
        QVERIFY(full.id().rfind("pth:" + pqw::pth::fileHash(s.path), 0) == 0);
        s.cutLayer = "nope";
        QVERIFY(errorOf([&] { pqw::Backbone::open(s); }).find("no layer named 'nope'") != std::string::npos);
        QCOMPARE(pqw::backboneKindForPath(fx("convnext_legacy.pth")), std::string("pth"));
    }

    void importedStage2GivesPyTorchLogits() {
        for (const char* n : {"pipnet_convnext", "pipnet_resnet", "pipnet_vit", "pipnet_vit_timm"}) {
            pqw::ProtoQuantImportOptions o;
            o.checkpoint = fx(std::string(n) + ".pth");
            o.inputSize = 64;
            pqw::ProtoQuantImportSummary sum;
            const pqw::ProtoModel m = pqw::importProtoQuant(o, &sum);
            // Saved and loaded as an ordinary workbench checkpoint.
            const std::string path = QDir::tempPath().toStdString() + "/pqw_test_import_" + n + ".pqwh";
            m.save(path);
            const pqw::ProtoModel back = pqw::ProtoModel::load(path);
            QCOMPARE(back.backboneSpec().kind, std::string("pth"));
            QCOMPARE(back.backboneSpec().path, o.checkpoint);
            auto bb = pqw::Backbone::open(back.backboneSpec());
            QCOMPARE(bb.id(), back.backboneId());
            const auto x = reference("input");
            const auto shape = bb.featureShape(64);
            auto f = torch::empty({1, shape[0], shape[1], shape[2]});
            bb.forward(x.data_ptr<float>(), 1, 64, f.data_ptr<float>());
            const auto logits = back.logits(f.data_ptr<float>());
            const auto refL = reference(std::string(n) + ".logits");
            auto got = torch::from_blob(const_cast<float*>(logits.data()), {1, (int64_t)logits.size()}).clone();
            QCOMPARE(got.sizes(), refL.sizes());
            QVERIFY2(relErr(got, refL) < 1e-4, (std::string(n) + " logits " + std::to_string(relErr(got, refL))).c_str());
            auto head = pqw::pq::headForward(back.impl(), f.flatten(2).transpose(1, 2));
            const auto refP = reference(std::string(n) + ".presence");
            QVERIFY2(relErr(head.presence, refP) < 1e-4, (std::string(n) + " presence").c_str());
            QCOMPARE(back.numClasses(), (int)refL.size(1));
            QCOMPARE(back.classNames()[0], std::string("class_0"));
        }
    }

    void summarySaysWhatWasRecognised() {
        pqw::ProtoQuantImportOptions o;
        o.checkpoint = fx("pipnet_convnext_cuda.pth");
        const auto s = pqw::inspectProtoQuant(o);
        QCOMPARE(s.stage, std::string("stage 2"));
        QCOMPARE(s.prototypes, 12);
        QCOMPARE(s.featureDim, 32);
        QCOMPARE(s.classes, 5);
        QCOMPARE(s.epoch, 7);
        QCOMPARE(s.valTop1, 83.25);
        QCOMPARE(s.locations, std::vector<std::string>{"cuda:0"});
        QVERIFY2(s.architecture.find("depths 1-1-2-1") != std::string::npos, s.architecture.c_str());
        std::string all;
        for (const auto& l : s.lines()) all += l + "\n";
        QVERIFY2(all.find("cuda:0") != std::string::npos && all.find("83.25") != std::string::npos, all.c_str());
        // Older key names: the same model.
        o.checkpoint = fx("pipnet_convnext_old.pth");
        const auto old = pqw::inspectProtoQuant(o);
        QVERIFY(old.keyLayout.find("head.codebook") != std::string::npos);
        QCOMPARE(old.notes.size(), size_t(1));
        o.inputSize = 64;
        const auto mOld = pqw::importProtoQuant(o);
        o.checkpoint = fx("pipnet_convnext.pth");
        const auto mNew = pqw::importProtoQuant(o);
        QVERIFY(torch::equal(mOld.impl().W, mNew.impl().W));
        QVERIFY(torch::equal(mOld.impl().codes, mNew.impl().codes));
    }

    void hydraConfigAndClassNames() {
        const QString dir = QDir::tempPath() + "/pqw_test_hydra";
        QDir(dir).removeRecursively();
        QDir().mkpath(dir + "/.hydra");
        QFile::copy(QString::fromStdString(fx("pipnet_convnext.pth")), dir + "/run.pth");
        pqw::writeFileAtomic((dir + "/.hydra/config.yaml").toStdString(),
                             "seed: 1\nmodel:\n  name: convnext_tiny\ndataset:\n  name: cub200\n  num_classes: 5\n");
        pqw::ProtoQuantImportOptions o;
        o.checkpoint = (dir + "/run.pth").toStdString();
        auto s = pqw::inspectProtoQuant(o);
        QCOMPARE(s.configModel, std::string("convnext_tiny"));
        QCOMPARE(s.configDataset, std::string("cub200"));
        pqw::writeFileAtomic((dir + "/.hydra/config.yaml").toStdString(), "dataset:\n  num_classes: 200\n");
        std::string e = errorOf([&] { pqw::inspectProtoQuant(o); });
        QVERIFY2(e.find("num_classes = 200") != std::string::npos, e.c_str());
        pqw::writeFileAtomic((dir + "/.hydra/config.yaml").toStdString(), "dataset: [unclosed\n");
        e = errorOf([&] { pqw::inspectProtoQuant(o); });
        QVERIFY2(e.find("config.yaml: not a readable YAML file") != std::string::npos, e.c_str());
        QFile::remove(dir + "/.hydra/config.yaml");
        pqw::writeFileAtomic((dir + "/classes.txt").toStdString(), "a\nb\nc\nd\ne\n");
        o.classesFile = (dir + "/classes.txt").toStdString();
        o.inputSize = 64;
        QCOMPARE(pqw::importProtoQuant(o).classNames()[4], std::string("e"));
        pqw::writeFileAtomic(o.classesFile, "a\nb\n");
        e = errorOf([&] { pqw::importProtoQuant(o); });
        QVERIFY2(e.find("lists 2 classes; the checkpoint has 5") != std::string::npos, e.c_str());
    }

    void stage1CodebookImports() {
        pqw::ProtoQuantImportOptions o;
        o.checkpoint = fx("codebook_stage1.pth");
        o.inputSize = 64;
        std::string e = errorOf([&] { pqw::inspectProtoQuant(o); });
        QVERIFY2(e.find("--backbone") != std::string::npos, e.c_str());
        o.backbone = fx("convnext.pth");
        o.classesFile = fx("stage1_classes.txt");
        pqw::writeFileAtomic(o.classesFile, "x\ny\n");
        pqw::ProtoQuantImportSummary s;
        const auto m = pqw::importProtoQuant(o, &s);
        QCOMPARE(s.stage, std::string("stage 1"));
        QVERIFY(m.hasCodebook());
        QVERIFY(!m.hasHead());
        QCOMPARE(m.numPrototypes(), 12);
        QCOMPARE(m.backboneSpec().path, o.backbone);
        auto ref = pqw::pth::readCheckpoint(fx("pipnet_convnext.pth")).need("codes");
        QVERIFY(torch::equal(m.impl().codes, ref));
    }

    void importErrorsNameTheFile() {
        pqw::ProtoQuantImportOptions o;
        o.checkpoint = fx("bad_missing_key.pth");
        std::string e = errorOf([&] { pqw::inspectProtoQuant(o); });
        QVERIFY2(e == fx("bad_missing_key.pth") + ": missing key 'classifier.weight' in the state dict", e.c_str());
        o.checkpoint = fx("convnext.pth");  // a classifier, not a ProtoQuant run
        e = errorOf([&] { pqw::inspectProtoQuant(o); });
        QVERIFY2(e.find("missing key 'codes'") != std::string::npos, e.c_str());
    }

    void omennExplainsTheImportedModelExactly() {
        // The ViT's native frozen pass: attention weights, LayerNorm's 1/std and GELU's gate held.
        for (const char* n : {"pipnet_convnext", "pipnet_resnet", "pipnet_vit", "pipnet_vit_timm"}) {
            pqw::ProtoQuantImportOptions o;
            o.checkpoint = fx(std::string(n) + ".pth");
            o.inputSize = 64;
            const auto m = pqw::importProtoQuant(o);
            const auto bb = pqw::Backbone::open(m.backboneSpec());
            const auto e = pqw::Explainer::fromModel(m, bb);
            const auto x = reference("input");
            const auto refL = reference(std::string(n) + ".logits");
            for (int c = 0; c < e.numOutputs(); ++c) {
                pqw::Target t;
                t.index = c;
                const auto a = pqw::explain(e, pqw::Method::Omenn, x.data_ptr<float>(), 64, t);
                // The explained value is PyTorch's logit, and the contributions sum to it.
                QVERIFY2(std::abs(a.output - refL[0][c].item<double>()) <= 1e-4 * std::max(1.0, std::abs(a.output)),
                         (std::string(n) + " output").c_str());
                QVERIFY2(std::abs(a.weightSum + a.biasSum - a.output) <= 1e-4 * std::max(1.0, std::abs(a.output)),
                         (std::string(n) + " sum rule " + std::to_string(a.weightSum + a.biasSum - a.output)).c_str());
            }
        }
    }

    void endToEndWithPqw() {
        // Import, extract a dataset the user opens with the checkpoint's own backbone, browse
        // the prototypes' nearest training patches, evaluate: all through pqw.
        const QString dir = QDir::tempPath() + "/pqw_test_pth_e2e";
        QDir(dir).removeRecursively();
        std::mt19937 rng(3);
        for (const char* c : {"a", "b", "c", "d", "e"}) {
            QDir().mkpath(dir + "/images/" + c);
            for (int i = 0; i < 4; ++i) {
                cv::Mat img(40, 48, CV_8UC3);
                for (int k = 0; k < img.rows * img.cols * 3; ++k) img.data[k] = static_cast<uchar>(rng() % 256);
                QVERIFY(cv::imwrite((dir + "/images/" + c + "/" + QString::number(i) + ".png").toStdString(), img));
            }
        }
        const QString run = QString::fromStdString(fx("pipnet_convnext.pth"));
        auto r = fixtures::runPqw({"import-protoquant", run, "--dataset", dir + "/images", "--size", "64", "-o",
                                   dir + "/model.pqwh"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        // The summary comes before anything runs.
        QVERIFY2(r.out.indexOf("prototypes P:  12") >= 0 && r.out.indexOf("prototypes P:") < r.out.indexOf("wrote"),
                 qPrintable(r.out));
        r = fixtures::runPqw({"extract", "-d", dir + "/images", "--backbone", run, "--size", "64", "-o", dir + "/cache"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = fixtures::runPqw({"prototypes", dir + "/model.pqwh", "-f", dir + "/cache", "--top", "3", "--all", "-o",
                              dir + "/protos"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        QVERIFY(!QDir(dir + "/protos").entryList({"*.png"}).isEmpty());
        r = fixtures::runPqw({"eval", dir + "/model.pqwh", "-f", dir + "/cache"});
        QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
        // The official ViT payload imports the same way.
        r = fixtures::runPqw({"import-protoquant", QString::fromStdString(fx("pipnet_vit.pth")), "--size", "64", "-o",
                              dir + "/vit.pqwh"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("architecture:  vit (ViT (torchvision keys), patch 16, 2 layers"), qPrintable(r.out));
        QVERIFY(QFile::exists(dir + "/vit.pqwh"));
        // Its layers: the encoder's token layers are cuts too (their patch tokens as a map).
        r = fixtures::runPqw({"layers", "--backbone", QString::fromStdString(fx("vit.pth")), "--size", "64"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(QRegularExpression("encoder\\.layers\\.encoder_layer_1\\s+Add\\s+128x4x4\\s+\\d+\\s+yes")),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains("cut: grid  stride 16  receptive field the whole input"), qPrintable(r.out));
        // A forbidden global through pqw: one line naming the file, exit 1, nothing ran.
        r = fixtures::runPqw({"layers", "--backbone", QString::fromStdString(fx("bad_reduce.pth"))});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.trimmed().count('\n') == 0 && r.err.contains("bad_reduce.pth: refusing the global 'posix.system'"),
                 qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestPth)
#include "test_pth.moc"
