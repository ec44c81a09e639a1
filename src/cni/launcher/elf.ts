// A minimal static ELF64 executable: the header, one PT_LOAD program
// header (read + execute) mapping the whole file at `base`, and the image
// right after them. Enough for code that makes raw system calls and has no
// writable data (the launcher keeps its buffers on the stack).

/** Bytes before the image: the ELF header (64) and one program header (56). */
export const ELF_HEADERS = 64 + 56;

const EM_X86_64 = 62;
const PT_LOAD = 1;
const PF_R = 4;
const PF_X = 1;

/** An ELF64 little-endian executable whose entry is the image's first byte. */
export function staticElf(
  image: Uint8Array,
  base: number,
  machine = EM_X86_64,
): Uint8Array {
  const out = new Uint8Array(ELF_HEADERS + image.length);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]); // ELF, 64-bit, LE, v1, SysV
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true); // EV_CURRENT
  v.setBigUint64(24, BigInt(base + ELF_HEADERS), true); // e_entry
  v.setBigUint64(32, 64n, true); // e_phoff
  v.setBigUint64(40, 0n, true); // e_shoff: no sections
  v.setUint32(48, 0, true); // e_flags
  v.setUint16(52, 64, true); // e_ehsize
  v.setUint16(54, 56, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  v.setUint16(58, 64, true); // e_shentsize
  v.setUint16(60, 0, true); // e_shnum
  v.setUint16(62, 0, true); // e_shstrndx
  const ph = 64;
  v.setUint32(ph, PT_LOAD, true);
  v.setUint32(ph + 4, PF_R | PF_X, true);
  v.setBigUint64(ph + 8, 0n, true); // p_offset
  v.setBigUint64(ph + 16, BigInt(base), true); // p_vaddr
  v.setBigUint64(ph + 24, BigInt(base), true); // p_paddr
  v.setBigUint64(ph + 32, BigInt(out.length), true); // p_filesz
  v.setBigUint64(ph + 40, BigInt(out.length), true); // p_memsz
  v.setBigUint64(ph + 48, 0x1000n, true); // p_align
  out.set(image, ELF_HEADERS);
  return out;
}
