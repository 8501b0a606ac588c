// Hide CPU features from this process's CPUID instructions (Linux, x86_64).
//
// With CPUID faulting on (arch_prctl ARCH_SET_CPUID 0; the CPU and the
// hypervisor must offer it: the "cpuid_fault" flag of /proc/cpuinfo), every
// CPUID in the process traps and the kernel delivers SIGSEGV. The handler here
// runs the real CPUID (faulting off for that one instruction), clears the bits
// it was told to, writes eax..edx and steps past the two-byte instruction.
// Code that picks its kernels from CPUID after cpucap_enable (onnxruntime's
// MLAS, OpenBLAS, oneDNN, torch, numpy, armbert itself) then sees the smaller
// CPU. The instructions are still there; nothing stops code that does not ask.
// The flag is per thread, inherited by threads created afterwards and cleared
// by execve. tools/cpucap/cpucap.py builds this file and drives it.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

// Bits to clear, by (leaf, subleaf, register).
enum { L1_ECX, L7_EBX, L7_ECX, L7_EDX, L71_EAX, L71_EDX, NMASKS };
static uint32_t clear[NMASKS];
static struct sigaction previous;
static int enabled;
static uint64_t trapped;

static int set_faulting(int on) { return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1); }

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = (ucontext_t *)ctx;
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    if (si->si_code != SI_KERNEL || ip[0] != 0x0F || ip[1] != 0xA2) {
        // A real fault: give it back to whoever had SIGSEGV before; returning
        // re-runs the faulting instruction under that action.
        sigaction(SIGSEGV, &previous, NULL);
        (void)sig;
        return;
    }
    uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
    uint32_t a, b, c, d;
    set_faulting(0);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_faulting(1);
    if (leaf == 1) c &= ~clear[L1_ECX];
    if (leaf == 7 && sub == 0) {
        b &= ~clear[L7_EBX];
        c &= ~clear[L7_ECX];
        d &= ~clear[L7_EDX];
    }
    if (leaf == 7 && sub == 1) {
        a &= ~clear[L71_EAX];
        d &= ~clear[L71_EDX];
    }
    g[REG_RAX] = a;
    g[REG_RBX] = b;
    g[REG_RCX] = c;
    g[REG_RDX] = d;
    g[REG_RIP] += 2;
    __atomic_fetch_add(&trapped, 1, __ATOMIC_RELAXED);
}

// 0, or -errno (EINVAL/ENODEV: no CPUID faulting on this CPU or hypervisor). A
// second call only changes the masks: the handler saved the first time stays the one
// a real fault goes back to.
int cpucap_enable(uint32_t l1_ecx, uint32_t l7_ebx, uint32_t l7_ecx, uint32_t l7_edx,
                  uint32_t l71_eax, uint32_t l71_edx) {
    clear[L1_ECX] = l1_ecx;
    clear[L7_EBX] = l7_ebx;
    clear[L7_ECX] = l7_ecx;
    clear[L7_EDX] = l7_edx;
    clear[L71_EAX] = l71_eax;
    clear[L71_EDX] = l71_edx;
    if (enabled) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    // Every signal waits while the handler runs: one whose handler executed
    // CPUID in the window where faulting is off would see the real CPU.
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous) != 0) return -errno;
    if (set_faulting(1) != 0) {
        int e = errno;
        sigaction(SIGSEGV, &previous, NULL);
        return -e;
    }
    enabled = 1;
    return 0;
}

// How many CPUID instructions were answered here (a check that the trap works).
uint64_t cpucap_trapped(void) { return __atomic_load_n(&trapped, __ATOMIC_RELAXED); }
