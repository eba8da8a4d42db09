#pragma once

#include "config.h"

namespace uwpx {

// File descriptors the configured limits may hold at once: every registration
// connection, the operator endpoint's, WNS connections to a handful of hosts,
// the store's, and a margin.
int descriptorsNeeded(const Config &config);

// Raises the process's soft RLIMIT_NOFILE to its hard limit (systemd starts
// services at 1024 soft; Qt polls, so a high number costs nothing) and warns
// when even that is below `needed`: connections beyond it would wait in the
// kernel's queue until others close.
void raiseDescriptorLimit(int needed);

} // namespace uwpx
