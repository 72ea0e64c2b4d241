/* simt: the fiber context switch for x86-64 System V (Linux).
 *
 * A suspended fiber is nothing but its stack pointer: pw_simt_switch pushes the callee-saved
 * registers (rbp, rbx, r12-r15) and the SSE (MXCSR) and x87 control words on the current
 * stack, stores rsp through `save_sp`, loads `load_sp` and pops the same from there. Every
 * other register is caller-saved, so the C++ caller has already spilled what it needs: the
 * switch is an ordinary opaque call, which is also why the compiler re-reads shared memory
 * after a barrier. No system call (ucontext's swapcontext saves the signal mask with one).
 *
 *   void pw_simt_switch(void** save_sp, void* load_sp);
 *
 * A fresh stack is prepared by kernels/simt/fiber.cpp so that its first switch "returns" into
 * pw_simt_trampoline with r12 = entry function and r13 = its argument.
 */
    .text
    .globl  pw_simt_switch
    .type   pw_simt_switch, @function
    .p2align 4
pw_simt_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    subq    $16, %rsp
    .cfi_adjust_cfa_offset 16
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)        /* suspend: remember where this context's state lies */
    movq    %rsi, %rsp          /* resume the other context */
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $16, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   pw_simt_switch, .-pw_simt_switch

/* First code on a fresh stack: call entry(arg). The entry never returns (it switches away
 * for good), so a return is a bug: ud2 faults at once. rip is marked undefined so that
 * debuggers and unwinders stop the backtrace here. */
    .globl  pw_simt_trampoline
    .type   pw_simt_trampoline, @function
    .p2align 4
pw_simt_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   pw_simt_trampoline, .-pw_simt_trampoline

/* The thread-local probe (shared.cpp): a thread-local byte and its offset in the module's
 * thread-local block, which the linker resolves. &probe - offset is the calling thread's
 * copy of that block, where the symbol table's offsets of static shared variables apply. */
    .section .tbss,"awT",@nobits
    .globl  pw_simt_tls_probe
    .type   pw_simt_tls_probe, @tls_object
    .size   pw_simt_tls_probe, 1
pw_simt_tls_probe:
    .zero   1

    .section .rodata
    .globl  pw_simt_tls_probe_dtpoff
    .type   pw_simt_tls_probe_dtpoff, @object
    .size   pw_simt_tls_probe_dtpoff, 8
    .p2align 3
pw_simt_tls_probe_dtpoff:
    .quad   pw_simt_tls_probe@dtpoff

    .section .note.GNU-stack,"",@progbits
