// pqw: the headless twin of the workbench. Every command prints a one-line reason and
// exits non-zero on error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "pqw/error.h"
#include "pqw/util.h"

int main(int argc, char** argv) {
    CLI::App app{"pqw: ProtoQuant Workbench on the command line", "pqw"};
    app.set_version_flag("--version", std::string("pqw ") + pqw::version());
    app.require_subcommand(1);
    pqwcli::registerCommands(app);
    // `pqw COMMAND --version` works too (and shows in every command's --help).
    for (CLI::App* sub : app.get_subcommands({})) sub->set_version_flag("--version", std::string("pqw ") + pqw::version());
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
    } catch (const std::exception& e) {
        std::cerr << "pqw: internal error: " << e.what() << "\n";
        return 2;
    }
    return pqwcli::exitCode();
}
