/*
 * troupe/troupe.h - the whole public API of libtroupe.
 *
 * troupe is Python's multiprocessing rebuilt in C as an actor framework.
 * Start with tp_init() at the top of main(). Each module has its own header
 * and its own page under docs/.
 */
#ifndef TROUPE_TROUPE_H
#define TROUPE_TROUPE_H

#include "troupe/actor.h"
#include "troupe/cluster.h"
#include "troupe/connection.h"
#include "troupe/error.h"
#include "troupe/fmt.h"
#include "troupe/version.h"
#include "troupe/manager.h"
#include "troupe/log.h"
#include "troupe/payload.h"
#include "troupe/pipe.h"
#include "troupe/pool.h"
#include "troupe/process.h"
#include "troupe/queue.h"
#include "troupe/runtime.h"
#include "troupe/shared.h"
#include "troupe/sync.h"
#include "troupe/supervisor.h"

#endif
