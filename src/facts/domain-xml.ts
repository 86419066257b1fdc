/**
 * What the plan needs from a libvirt domain's XML (the facts keep the XML as libvirt wrote it). Read
 * by an XML parser, never matched as text. Its own module: the on-host agent, which compares facts
 * but never plans, does not carry the parser (every KB of the agent is parsed inside the blackout).
 */
import { XMLParser } from 'fast-xml-parser';

export interface DomainXml {
  emulator: string | undefined;
  /** guest RAM in bytes */
  memory: number | undefined;
  /** <memoryBacking>: <source type=.../> and <access mode=.../>, undefined where the XML has none */
  ramSource: string | undefined;
  ramAccess: string | undefined;
  /** passed-through devices (<hostdev>) */
  hostdevs: number;
}

const UNIT: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1 << 20,
  mib: 1 << 20,
  mb: 1e6,
  g: 1 << 30,
  gib: 1 << 30,
  gb: 1e9,
};

export function readDomainXml(xml: string): DomainXml {
  const none = { emulator: undefined, memory: undefined, ramSource: undefined, ramAccess: undefined, hostdevs: 0 };
  if (!xml.trim()) return none;
  type Node = Record<string, unknown>;
  let doc: Node;
  try {
    doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (n) => n === 'hostdev' }).parse(xml, true) as Node;
  } catch {
    return none;
  }
  const d = (doc['domain'] ?? {}) as Node;
  const text = (n: unknown): string | undefined =>
    typeof n === 'string' || typeof n === 'number'
      ? String(n)
      : n && typeof n === 'object'
        ? (text((n as Node)['#text']) ?? undefined)
        : undefined;
  const mem = d['memory'] as Node | string | undefined;
  const u = typeof mem === 'object' ? mem['@unit'] : undefined;
  const unit = (typeof u === 'string' ? u : 'KiB').toLowerCase();
  const amount = Number(text(mem));
  const backing = (d['memoryBacking'] ?? undefined) as Node | undefined;
  const attr = (n: unknown, a: string): string | undefined =>
    n && typeof n === 'object' ? ((n as Node)[`@${a}`] as string | undefined) : undefined;
  const devices = (d['devices'] ?? {}) as Node;
  return {
    emulator: text(devices['emulator']),
    memory: Number.isFinite(amount) && UNIT[unit] !== undefined ? amount * UNIT[unit] : undefined,
    ramSource: attr(backing?.['source'], 'type'),
    ramAccess: attr(backing?.['access'], 'mode'),
    hostdevs: Array.isArray(devices['hostdev']) ? devices['hostdev'].length : 0,
  };
}
