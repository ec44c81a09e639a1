// weft's CNI launcher for aarch64 Linux: the same program as x86_64.s (read
// that file's header for what it does, its data table and its wire), in
// A64 instructions. The table of four addresses sits at 0x300.
        .text
        .globl _start
_start:
        ldr     x19, [sp]                   // argc
        add     x20, sp, x19, lsl #3
        add     x20, x20, #16               // envp
        sub     sp, sp, #16, lsl #12        // [sp+256] 64 KiB stdin buffer
        sub     sp, sp, #256                // [sp] sockaddr_un, [sp+128] request, [sp+144] byte, [sp+160] timeval
        ldr     x21, t_sock                 // default socket address
        // WEFT_CNI_SOCKET=<path> (non-empty) overrides the default.
        mov     x9, x20
scan:   ldr     x1, [x9], #8
        cbz     x1, connect
        adr     x2, key
        mov     x3, #0
cmpkey: ldrb    w4, [x2, x3]
        cbz     w4, found
        ldrb    w5, [x1, x3]
        cmp     w4, w5
        b.ne    scan
        add     x3, x3, #1
        b       cmpkey
found:  add     x1, x1, x3
        mov     w4, #1                      // AF_UNIX
        strh    w4, [sp]
        add     x5, sp, #2
        mov     x3, #0
copy:   ldrb    w4, [x1, x3]
        strb    w4, [x5, x3]
        cbz     w4, copied
        add     x3, x3, #1
        cmp     x3, #108
        b.lo    copy
        b       fallback                    // too long for sockaddr_un
copied: cbz     x3, scan                    // empty: keep looking, else default
        mov     x21, sp
connect:
        mov     x0, #1                      // socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0)
        mov     x1, #1
        movk    x1, #8, lsl #16
        mov     x2, #0
        mov     x8, #198
        svc     #0
        tbnz    x0, #63, fallback
        mov     x22, x0
        mov     x1, x21                     // connect(fd, addr, sizeof(sockaddr_un))
        mov     x2, #110
        mov     x8, #203
        svc     #0
        cbnz    x0, fallback
        mov     x0, #30                     // the first answer within 30 s,
        mov     x2, #20                     // SO_RCVTIMEO
        bl      timeout
        mov     x0, #30                     // each send within 30 s
        mov     x2, #21                     // SO_SNDTIMEO
        bl      timeout
        mov     x8, #172                    // getpid()
        svc     #0
        str     w0, [sp, #132]
        ldr     w1, magic                   // "WFT\x01"
        str     w1, [sp, #128]
        mov     x0, x22                     // sendto(fd, req, 8, MSG_NOSIGNAL, 0, 0)
        add     x1, sp, #128
        mov     x2, #8
        mov     x3, #0x4000
        mov     x4, #0
        mov     x5, #0
        mov     x8, #206
        svc     #0
        cmp     x0, #8
        b.ne    fallback
        bl      recv1
        b.ne    fallback
        ldrb    w1, [sp, #144]
        cmp     w1, #0x41                   // 'A'
        b.eq    accepted
        cmp     w1, #0x53                   // 'S'
        b.ne    fallback
        // 'S': stream stdin to the agent; from here on there is no fallback.
pump:   mov     x0, #0                      // read(0, buf, 65536)
        add     x1, sp, #256
        mov     x2, #65536
        mov     x8, #63
        svc     #0
        cmn     x0, #4                      // -EINTR
        b.eq    pump
        cmp     x0, #0
        b.le    pumped                      // end of file (or an unreadable stdin)
        mov     x23, x0
        add     x24, sp, #256
push:   mov     x0, x22                     // sendto(fd, p, n, MSG_NOSIGNAL, 0, 0)
        mov     x1, x24
        mov     x2, x23
        mov     x3, #0x4000
        mov     x4, #0
        mov     x5, #0
        mov     x8, #206
        svc     #0
        cmn     x0, #4
        b.eq    push
        cmp     x0, #0
        b.le    lost
        add     x24, x24, x0
        subs    x23, x23, x0
        b.ne    push
        b       pump
pumped: mov     x0, x22                     // shutdown(fd, SHUT_WR)
        mov     x1, #1
        mov     x8, #210
        svc     #0
        bl      wait150
        bl      recv1
        b.ne    lost
        ldrb    w1, [sp, #144]
        cmp     w1, #0x41
        b.ne    lost
        b       answer
accepted:
        bl      wait150
answer: bl      recv1
        b.ne    lost
        ldrb    w0, [sp, #144]
        mov     x8, #94                     // exit_group(code)
        svc     #0
lost:   ldr     x1, t_lost
        b       exec
fallback:
        ldr     x1, t_argv
exec:   ldr     x0, t_path                  // execve(path, argv, envp)
        mov     x2, x20
        mov     x8, #221
        svc     #0
        mov     x0, #2                      // write(2, msg, len)
        adr     x1, msg
        mov     x2, #(msg_end - msg)
        mov     x8, #64
        svc     #0
        mov     x0, #1
        mov     x8, #94
        svc     #0

// recv1: one byte from the agent into [sp+144]; EQ when one byte came
// (EINTR retried).
recv1:  mov     x0, x22
        add     x1, sp, #144
        mov     x2, #1
        mov     x3, #0
        mov     x4, #0
        mov     x5, #0
        mov     x8, #207                    // recvfrom(fd, buf, 1, 0, 0, 0)
        svc     #0
        cmn     x0, #4                      // -EINTR
        b.eq    recv1
        cmp     x0, #1
        ret

// wait150: the operation's answer within 150 s.
wait150:
        mov     x0, #150
        mov     x2, #20                     // SO_RCVTIMEO
        // fall through
// timeout: socket option x2 (SO_RCVTIMEO, SO_SNDTIMEO) to x0 seconds.
timeout:
        str     x0, [sp, #160]
        str     xzr, [sp, #168]
        mov     x0, x22                     // setsockopt(fd, SOL_SOCKET, opt, &tv, 16)
        mov     x1, #1
        add     x3, sp, #160
        mov     x4, #16
        mov     x8, #208
        svc     #0
        ret

        .balign 4
magic:  .word   0x01544657
msg:    .ascii  "weft CNI launcher: cannot exec weft\n"
msg_end:
key:    .asciz  "WEFT_CNI_SOCKET="
        .org    0x300
t_sock: .quad   0
t_path: .quad   0
t_argv: .quad   0
t_lost: .quad   0
