#include "commands.h"

namespace pqwcli {
namespace {
int g_exit = 0;
}
int exitCode() { return g_exit; }
void registerCommands(CLI::App& app) { (void)app; }
}  // namespace pqwcli
