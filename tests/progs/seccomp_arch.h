/* The AUDIT_ARCH a seccomp filter checks first: a syscall number means
 * something else under another ABI (x32, ia32), which the filter lets
 * through untouched. */
#ifndef SECCOMP_ARCH_H
#define SECCOMP_ARCH_H

#include <linux/audit.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH_* to seccomp_arch.h"
#endif

#endif
