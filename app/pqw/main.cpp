// pqw: the headless twin of the workbench. Every command prints a one-line reason and
// exits non-zero on error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "option_ranges.h"
#include "pqw/error.h"
#include "pqw/protoquant.h"
#include "pqw/util.h"

int main(int argc, char** argv) {
    CLI::App app{"pqw: ProtoQuant Workbench on the command line", "pqw"};
    app.set_version_flag("--version", std::string("pqw ") + pqw::version());
    app.require_subcommand(1);
    bool verbose = false;
    app.add_flag("--verbose", verbose, "Show library details (stack traces) of unexpected errors");
    pqwcli::registerCommands(app);
    pqwcli::applyOptionRanges(app);  // every numeric option: its range, in words
    // `pqw COMMAND --version` works too (and shows in every command's --help).
    for (CLI::App* sub : app.get_subcommands({})) {
        sub->set_version_flag("--version", std::string("pqw ") + pqw::version());
        // Checkpoints are data; a head that embeds TorchScript is code and needs this (any position).
        sub->add_flag_callback("--allow-torchscript-heads", [] { pqw::allowEmbeddedTorchScript(); },
                               "Load heads (.pqwh) that embed a TorchScript stage-0 head; that runs code "
                               "(docs/security.md)");
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const pqw::Cancelled&) {
        std::cerr << "pqw: cancelled\n";
        return 130;
    } catch (const pqw::Error& e) {
        std::cerr << "pqw: " << e.what() << "\n";
        return 1;
    } catch (const std::filesystem::filesystem_error& e) {
        // A folder that cannot be created or read (read-only, a file in the way): name it.
        std::cerr << "pqw: " << (e.path1().empty() ? std::string("file system") : e.path1().string()) << ": "
                  << e.code().message() << "\n";
        return 1;
    } catch (const std::exception& e) {
        // The one boundary for library errors that escaped a command: one line (LibTorch adds a
        // stack trace after it), the whole text only with --verbose.
        std::string what = e.what();
        if (!verbose) {
            if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl) + " (--verbose shows details)";
        }
        std::cerr << "pqw: internal error: " << what << "\n";
        return 2;
    }
    return pqwcli::exitCode();
}
