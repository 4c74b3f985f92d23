// RFC 1035 §5 master-file parser (as BIND reads it). Implemented by the zone-parser work.
import type { ResourceRecord } from './rr.js';

export interface ZoneProblem {
  file: string;
  line: number;
  severity: 'error' | 'warning';
  /** Stable machine-readable code, e.g. 'bad-ttl', 'cname-and-other-data'. */
  code: string;
  message: string;
}

export interface ParsedZone {
  /** Canonical origin key, e.g. 'example.com.' */
  origin: string;
  records: ResourceRecord[];
  problems: ZoneProblem[];
}

export interface ParseOptions {
  /** Canonical origin key; when absent it comes from the file name (<origin>.zone) or the first $ORIGIN. */
  origin?: string;
}

export function parseZoneFile(_file: string, _opts: ParseOptions = {}): ParsedZone {
  throw new Error('not implemented yet');
}
