// The name keys every lookup and every zone load goes through: the fast paths of asciiLower,
// escapeLabel and labelsToKey (no new string when nothing changes) against the plain definitions.
import { describe, expect, test } from 'vitest';
import { asciiLower, escapeLabel, labelsToKey } from '../../server/name.js';
import { Rng } from '../helpers/rng.js';

const refLower = (s: string): string => [...s].map((ch) => (ch >= 'A' && ch <= 'Z' ? ch.toLowerCase() : ch)).join('');
const refEscape = (l: string): string => [...l].map((ch) => {
  const c = ch.charCodeAt(0);
  if (c <= 0x20 || c >= 0x7f) return '\\' + String(c).padStart(3, '0');
  return '.\\"();$@'.includes(ch) ? '\\' + ch : ch;
}).join('');
const refKey = (labels: string[]): string => (labels.length === 0 ? '.' : labels.map((l) => refEscape(refLower(l))).join('.') + '.');

describe('name keys', () => {
  test('examples', () => {
    expect(labelsToKey(['WWW', 'Example', 'com'])).toBe('www.example.com.');
    expect(labelsToKey([])).toBe('.');
    expect(labelsToKey(['a.b', 'x y', '\u00c9', '@'])).toBe('a\\.b.x\\032y.\\201.\\@.');
    expect(asciiLower('\u00c9A')).toBe('\u00c9a'); // ASCII only (RFC 4343)
  });

  test('equal to the plain definitions on 20,000 random names (seeded)', () => {
    const seed = 20261126;
    const r = new Rng(seed);
    const alphabets = ['abcdefghijklmnopqrstuvwxyz0123456789-', 'aBcDeFZz09-_', '.\\"();$@ aZ', null];
    for (let i = 0; i < 20_000; i++) {
      const labels = Array.from({ length: r.int(5) }, () => {
        const alpha = r.pick(alphabets);
        const n = 1 + r.int(20);
        return alpha ? Array.from({ length: n }, () => r.pick([...alpha])).join('') : r.octets(n);
      });
      expect(labelsToKey(labels), `seed ${seed}, name ${i}: ${JSON.stringify(labels)}`).toBe(refKey(labels));
      for (const l of labels) {
        expect(asciiLower(l)).toBe(refLower(l));
        expect(escapeLabel(l)).toBe(refEscape(l));
      }
    }
  });
});
