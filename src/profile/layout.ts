import { alignUp, formatSize, MiB, TWO_MIB } from '../units.js';
import type { PkernfsPersistence, PmemPersistence, Profile } from './types.js';

/**
 * pkernfs on-media layout, from fs/pkernfs in the RFC tree (jgowans/linux) and its observed behaviour:
 * 2 MiB blocks; block 0 is the superblock with the allocation bitmap in its second MiB; block 1 is the
 * inode store; intel-iommu creates iommu/root-pgtables (one block) at boot; every file takes one 2 MiB
 * mappings block (an array of 8-byte block numbers) plus its data blocks.
 */
export const PKERNFS = {
  blockSize: TWO_MIB,
  /** superblock+bitmap, inode store, iommu/root-pgtables */
  reservedBlocks: 3,
  /** 2 MiB inode store / 288-byte struct pkernfs_inode (RFC v1 layout) */
  maxInodes: Math.floor(TWO_MIB / 288),
  /** root ".", "iommu", "iommu/root-pgtables" */
  reservedInodes: 3,
  /** struct pkernfs_inode.filename is 32 bytes with its NUL, as observed when booted */
  maxNameBytes: 31,
  /** one mappings block of 8-byte block numbers, each a 2 MiB block */
  maxFileSize: (TWO_MIB / 8) * TWO_MIB,
  /** the allocator searches a 2^20-bit bitmap */
  maxBlocks: 2 ** 20,
} as const;

export interface LayoutFile {
  path: string; // relative to the mount
  size: number;
  /** blocks (pkernfs) or bytes (pmem) the file costs, metadata included */
  cost: number;
  vm: string;
}

export interface CarveOutLayout {
  files: LayoutFile[];
  capacity: number; // bytes usable for files
  used: number; // bytes the files take, metadata included
  problems: Array<{ vm?: string; message: string }>;
}

export function pkernfsFiles(profile: Profile): LayoutFile[] {
  const files: LayoutFile[] = [];
  for (const vm of profile.vms) {
    files.push({ path: vm.ramFile, size: vm.memory, cost: pkernfsFileBlocks(vm.memory), vm: vm.name });
    for (const d of vm.vfio)
      files.push({ path: `iommu/${d.iommuDomain}`, size: d.pgtables, cost: pkernfsFileBlocks(d.pgtables), vm: vm.name });
  }
  return files;
}

export function pkernfsFileBlocks(size: number): number {
  return 1 + Math.ceil(size / TWO_MIB);
}

export function pkernfsLayout(profile: Profile, p: PkernfsPersistence): CarveOutLayout {
  const files = pkernfsFiles(profile);
  const problems: CarveOutLayout['problems'] = [];
  const totalBlocks = Math.floor(p.size / TWO_MIB);
  const usedBlocks = PKERNFS.reservedBlocks + files.reduce((n, f) => n + f.cost, 0);
  for (const f of files) {
    const name = f.path.split('/').pop()!;
    if (Buffer.byteLength(name) > PKERNFS.maxNameBytes) {
      problems.push({
        vm: f.vm,
        message: `pkernfs file name '${name}' is ${Buffer.byteLength(name)} bytes; pkernfs keeps at most ${PKERNFS.maxNameBytes}`,
      });
    }
    if (f.size > PKERNFS.maxFileSize) {
      problems.push({
        vm: f.vm,
        message: `pkernfs file '${f.path}' of ${formatSize(f.size)} exceeds pkernfs's ${formatSize(PKERNFS.maxFileSize)} per-file limit (one 2 MiB mappings block)`,
      });
    }
  }
  if (files.length + PKERNFS.reservedInodes > PKERNFS.maxInodes) {
    problems.push({
      message: `${files.length} pkernfs files exceed the inode store (${PKERNFS.maxInodes - PKERNFS.reservedInodes} files)`,
    });
  }
  if (totalBlocks > PKERNFS.maxBlocks) {
    problems.push({
      message: `a ${formatSize(p.size)} carve-out is larger than pkernfs's allocator covers (${formatSize(PKERNFS.maxBlocks * TWO_MIB)})`,
    });
  }
  if (usedBlocks > totalBlocks) {
    problems.push({
      message:
        `the files need ${usedBlocks} blocks of 2 MiB (${formatSize(usedBlocks * TWO_MIB)}: ${PKERNFS.reservedBlocks} for superblock, inodes and iommu/root-pgtables, ` +
        `one mappings block per file plus data) but the ${formatSize(p.size)} carve-out has ${totalBlocks}`,
    });
  }
  return { files, capacity: totalBlocks * TWO_MIB, used: usedBlocks * TWO_MIB, problems };
}

/** ext4's default journal size for a filesystem of `blocks` 4 KiB blocks (e2fsprogs ext2fs_default_journal_size). */
export function ext4JournalBlocks(blocks: number): number {
  if (blocks < 2048) return 0;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}

/** Device state written per VM during suspend (seen: ~0.3 MB without VFIO); reserved generously. */
export const STATE_RESERVE = 8 * MiB;

/**
 * pmem: a legacy (memmap=nn!ss) namespace is fsdax with map=mem from boot, so it costs nothing;
 * `mkfs.ext4 -b 4096 -m 0` then takes its journal, inode tables (256 B per 16 KiB) and group
 * metadata. Measured in the lab: 256M gave 218.6 MiB available; this model says 216 MiB.
 */
export function pmemCapacity(size: number): number {
  const blocks = Math.floor(size / 4096);
  const metadata = ext4JournalBlocks(blocks) * 4096 + Math.ceil(size / 64) + Math.ceil(size / 32) + 12 * MiB;
  return Math.max(0, size - metadata);
}

export function pmemLayout(profile: Profile, p: PmemPersistence): CarveOutLayout {
  const capacity = pmemCapacity(p.size);
  const files: LayoutFile[] = profile.vms.map((vm) => ({
    path: vm.ramFile,
    size: vm.memory,
    cost: alignUp(vm.memory, TWO_MIB),
    vm: vm.name,
  }));
  const stateInCarveOut = profile.migration.stateDir.startsWith(`${p.mount}/`);
  const used = files.reduce((n, f) => n + f.cost, 0) + (stateInCarveOut ? STATE_RESERVE * profile.vms.length : 0);
  const problems: CarveOutLayout['problems'] = [];
  if (used > capacity) {
    problems.push({
      message:
        `guest RAM${stateInCarveOut ? ' and device state' : ''} need ${formatSize(alignUp(used, MiB))} but the ${formatSize(p.size)} pmem carve-out ` +
        `holds about ${formatSize(Math.floor(capacity / MiB) * MiB)} after the fsdax namespace and ext4 metadata`,
    });
  }
  return { files, capacity, used, problems };
}
