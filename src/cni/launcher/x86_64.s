# weft's CNI launcher for x86_64 Linux: a static executable of about a
# kilobyte installed under each plugin name. It hands the operation to the
# local agent, which reads the environment, argv[0], working directory and
# network namespace from /proc/<pid> and writes the plugin's stdout and
# stderr to /proc/<pid>/fd/{1,2}; the launcher streams its own stdin over
# the socket when asked, then exits with the agent's code. When no agent
# takes the operation it execs weft's own plugin (the in-process fallback);
# when the agent is lost once the launcher's stdin is gone it execs weft to
# print CNI error 11. No libc: raw system calls only.
#
# Data (after the code, read-only, absolute addresses filled by the
# installer, at 0x300): a table of four pointers -- the default sockaddr_un,
# the fallback executable, the fallback argv, the agent-lost argv.
#
# Wire: client -> agent  "WFT\x01" + u32 pid (little-endian)
#       agent -> client  'F' or end of stream: run it yourself
#                        'S': send your stdin (to end of file, then
#                             shut down writing); 'A' follows
#                        'A': accepted; one byte follows, the exit code
# Bounds: 30 s for the first answer and for each send, 150 s for the rest.
        .intel_syntax noprefix
        .text
        .globl _start
_start:
        mov     rbx, [rsp]                  # argc
        lea     r15, [rsp + rbx*8 + 16]     # envp
        sub     rsp, 65792                  # [rsp] sockaddr_un, [rsp+128] request, [rsp+144] byte, [rsp+160] timeval, [rsp+256] 64 KiB stdin buffer
        mov     r14, [rip + t_sock]         # default socket address
        # WEFT_CNI_SOCKET=<path> (non-empty) overrides the default.
        mov     rcx, r15
scan:   mov     rsi, [rcx]
        test    rsi, rsi
        jz      connect
        add     rcx, 8
        lea     rdi, [rip + key]
        xor     edx, edx
cmpkey: mov     al, [rdi + rdx]
        test    al, al
        jz      found
        cmp     al, [rsi + rdx]
        jne     scan
        inc     edx
        jmp     cmpkey
found:  add     rsi, rdx
        mov     word ptr [rsp], 1           # AF_UNIX
        xor     edx, edx
copy:   mov     al, [rsi + rdx]
        mov     [rsp + rdx + 2], al
        test    al, al
        jz      copied
        inc     edx
        cmp     edx, 108
        jb      copy
        jmp     fallback                    # too long for sockaddr_un
copied: test    edx, edx
        jz      scan                        # empty: keep looking, else default
        mov     r14, rsp
connect:
        mov     eax, 41                     # socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0)
        mov     edi, 1
        mov     esi, 0x80001
        xor     edx, edx
        syscall
        test    eax, eax
        js      fallback
        mov     r12d, eax
        mov     eax, 42                     # connect(fd, addr, sizeof(sockaddr_un))
        mov     edi, r12d
        mov     rsi, r14
        mov     edx, 110
        syscall
        test    eax, eax
        jnz     fallback
        mov     esi, 30                     # the first answer within 30 s,
        mov     edx, 20                     # SO_RCVTIMEO
        call    timeout
        mov     esi, 30                     # each send within 30 s
        mov     edx, 21                     # SO_SNDTIMEO
        call    timeout
        mov     eax, 39                     # getpid()
        syscall
        mov     dword ptr [rsp + 128], 0x01544657   # "WFT\x01"
        mov     [rsp + 132], eax
        mov     eax, 44                     # sendto(fd, req, 8, MSG_NOSIGNAL, 0, 0)
        mov     edi, r12d
        lea     rsi, [rsp + 128]
        mov     edx, 8
        mov     r10d, 0x4000
        xor     r8d, r8d
        xor     r9d, r9d
        syscall
        cmp     rax, 8
        jne     fallback
        call    recv1
        jne     fallback
        mov     al, [rsp + 144]
        cmp     al, 'A'
        je      accepted
        cmp     al, 'S'
        jne     fallback
        # 'S': stream stdin to the agent; from here on there is no fallback.
pump:   xor     eax, eax                    # read(0, buf, 65536)
        xor     edi, edi
        lea     rsi, [rsp + 256]
        mov     edx, 65536
        syscall
        cmp     rax, -4                     # EINTR
        je      pump
        test    rax, rax
        jle     pumped                      # end of file (or an unreadable stdin)
        mov     r13, rax
        lea     rbp, [rsp + 256]
push:   mov     eax, 44                     # sendto(fd, p, n, MSG_NOSIGNAL, 0, 0)
        mov     edi, r12d
        mov     rsi, rbp
        mov     rdx, r13
        mov     r10d, 0x4000
        xor     r8d, r8d
        xor     r9d, r9d
        syscall
        cmp     rax, -4
        je      push
        test    rax, rax
        jle     lost
        add     rbp, rax
        sub     r13, rax
        jnz     push
        jmp     pump
pumped: mov     eax, 48                     # shutdown(fd, SHUT_WR)
        mov     edi, r12d
        mov     esi, 1
        syscall
        call    wait150
        call    recv1
        jne     lost
        cmp     byte ptr [rsp + 144], 'A'
        jne     lost
        jmp     answer
accepted:
        call    wait150
answer: call    recv1
        jne     lost
        movzx   edi, byte ptr [rsp + 144]
        mov     eax, 231                    # exit_group(code)
        syscall
lost:   mov     rsi, [rip + t_lost]
        jmp     exec
fallback:
        mov     rsi, [rip + t_argv]
exec:   mov     rdi, [rip + t_path]         # execve(path, argv, envp)
        mov     rdx, r15
        mov     eax, 59
        syscall
        mov     eax, 1                      # write(2, msg, len)
        mov     edi, 2
        lea     rsi, [rip + msg]
        mov     edx, msg_end - msg
        syscall
        mov     edi, 1
        mov     eax, 231
        syscall

# recv1: one byte from the agent into [rsp+144] (caller's frame); ZF set
# when one byte came (EINTR retried).
recv1:  mov     eax, 45                     # recvfrom(fd, buf, 1, 0, 0, 0)
        mov     edi, r12d
        lea     rsi, [rsp + 152]
        mov     edx, 1
        xor     r10d, r10d
        xor     r8d, r8d
        xor     r9d, r9d
        syscall
        cmp     rax, -4                     # EINTR
        je      recv1
        cmp     rax, 1
        ret

# wait150: the operation's answer within 150 s.
wait150:
        mov     esi, 150
        mov     edx, 20                     # SO_RCVTIMEO
        # fall through
# timeout: socket option edx (SO_RCVTIMEO, SO_SNDTIMEO) to esi seconds.
timeout:
        mov     [rsp + 168], rsi            # timeval {sec, 0} at caller's rsp+160
        mov     qword ptr [rsp + 176], 0
        mov     eax, 54                     # setsockopt(fd, SOL_SOCKET, opt, &tv, 16)
        mov     edi, r12d
        mov     esi, 1
        lea     r10, [rsp + 168]
        mov     r8d, 16
        syscall
        ret

msg:    .ascii  "weft CNI launcher: cannot exec weft\n"
msg_end:
key:    .asciz  "WEFT_CNI_SOCKET="
        .org    0x300
t_sock: .quad   0
t_path: .quad   0
t_argv: .quad   0
t_lost: .quad   0
