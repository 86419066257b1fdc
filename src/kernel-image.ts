/**
 * Which kernel an x86 bzImage is, read from the image itself (the boot protocol's setup header: the
 * magic `HdrS` at 0x202 and, at 0x20e, `kernel_version`: where, less 0x200, the image keeps its build
 * string `RELEASE (BUILDER@HOST) VERSION`), and whether a running kernel (`uname -r`, `uname -v`) is it.
 */

/** sh: the build string of the bzImage "$1", or nothing when it is not one (a header without HdrS or without the string). */
export const IMAGE_IDENTITY_SCRIPT = `
[ "$(dd if="$1" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || exit 0
o=$(od -An -tu2 -j 526 -N 2 -- "$1" | tr -d ' ')
case $o in ''|0|*[!0-9]*) exit 0 ;; esac
dd if="$1" bs=1 skip=$((o + 512)) count=256 2>/dev/null | tr '\\0' '\\n' | head -n 1
`;

export interface KernelIdentity {
  /** uname -r */
  release: string;
  /** uname -v: the build number, options and date */
  version: string;
}

/** `6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)` -> release and version. */
export function parseImageIdentity(text: string): KernelIdentity | undefined {
  const m = /^(\S+) \([^()]*\) (#.+)$/.exec(text.trim());
  return m ? { release: m[1]!, version: m[2]!.trim() } : undefined;
}

/** Why the running kernel is not the image's, or undefined when it is. */
export function otherKernel(image: KernelIdentity, running: KernelIdentity): string | undefined {
  if (image.release !== running.release) return `it runs ${running.release}, the kernel loaded is ${image.release}`;
  if (image.version !== running.version)
    return `it runs ${running.release} built '${running.version}', the kernel loaded was built '${image.version}'`;
  return undefined;
}
