/* Two gaps in Debian's libfaketime 0.9.10 that scripts/on_date fills; loaded before it.
 *
 * sem_clockwait: libfaketime moves CLOCK_MONOTONIC by the offset but does not wrap this call,
 * so a deadline read from the moved clock lies the offset (days) ahead of the kernel's, and
 * every timed wait of a Python thread (Event.wait, Queue.get, join with a timeout) waits for
 * days. The deadline is turned back into the kernel's count here.
 *
 * epoll_wait: libfaketime's wrapper is still on the stack when a signal arrives, so a clock
 * read in the handler sees the real time; PostgreSQL's lock and statement timeouts read the
 * clock in their SIGALRM handler and never fired. The call goes straight to the kernel here.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *deadline) {
  static int (*next)(sem_t *, clockid_t, const struct timespec *);
  if (!next) next = dlsym(RTLD_NEXT, "sem_clockwait");
  struct timespec seen, kernel;
  clock_gettime(clock, &seen); /* libfaketime's answer */
  syscall(SYS_clock_gettime, clock, &kernel);
  long long left = (deadline->tv_sec - seen.tv_sec) * 1000000000LL
                   + (deadline->tv_nsec - seen.tv_nsec);
  long long at = kernel.tv_sec * 1000000000LL + kernel.tv_nsec + (left > 0 ? left : 0);
  struct timespec fixed = {at / 1000000000LL, at % 1000000000LL};
  return next(sem, clock, &fixed);
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
  return syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout, NULL, _NSIG / 8);
}
