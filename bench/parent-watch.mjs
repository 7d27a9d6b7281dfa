/**
 * Preloaded (`node --import ./bench/parent-watch.mjs`) into every process the bench
 * starts, so none outlives it: if the bench dies without cleaning up (SIGKILL),
 * the child is re-parented, notices within a second and stops itself with
 * SIGTERM (the gateway's own clean shutdown). Costs one unref'd timer a second.
 */
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) {
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }
}, 1000);
timer.unref();
