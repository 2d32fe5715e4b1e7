// RequestTable, where the event-loop server finds a request in flight by the serial the addon gave it: every request
// added is found by its serial until deleted, whatever serials the others have and however long they stay.
import { describe, expect, it } from 'vitest';
import { RequestTable } from '../../lib/event-loop/request-table';

const request = (serial: number) => ({ serial, name: `request ${serial}` });

describe('RequestTable', () => {
  it('finds a request by its serial, and nothing for a serial not in flight', () => {
    const table = new RequestTable<ReturnType<typeof request>>();
    const first = request(1);
    table.add(first);
    table.add(request(2));
    expect(table.get(1)).toBe(first);
    expect(table.get(2)?.name).toBe('request 2');
    expect(table.get(3)).toBeUndefined();
    expect(table.get(1 + 64)).toBeUndefined(); // the same slot, another serial
  });

  it('forgets a request once deleted, and a later one in its slot is not deleted by the earlier', () => {
    const table = new RequestTable<ReturnType<typeof request>>();
    const early = request(5);
    table.add(early);
    table.delete(early);
    expect(table.get(5)).toBeUndefined();
    const later = request(5 + 64);
    table.add(later);
    table.delete(early); // deleted twice: a late callback for a request long gone
    expect(table.get(5 + 64)).toBe(later);
  });

  it('keeps a long-lived request findable when new serials come round to its slot', () => {
    const table = new RequestTable<ReturnType<typeof request>>();
    const longLived = request(3);
    table.add(longLived);
    for (let serial = 4; serial < 1000; serial++) {
      const passing = request(serial);
      table.add(passing);
      expect(table.get(serial)).toBe(passing);
      table.delete(passing);
    }
    expect(table.get(3)).toBe(longLived);
    expect(table.get(3 + 64)).toBeUndefined();
  });

  it('holds a thousand requests in flight at once, each found by its serial, and deletes each alone', () => {
    const table = new RequestTable<ReturnType<typeof request>>();
    const requests = Array.from({ length: 1000 }, (_, i) => request(7 + i * 3));
    for (const each of requests) table.add(each);
    for (const each of requests) expect(table.get(each.serial)).toBe(each);
    for (const each of requests.filter((_, i) => i % 2 === 0)) table.delete(each);
    for (const [i, each] of requests.entries()) expect(table.get(each.serial)).toBe(i % 2 === 0 ? undefined : each);
  });

  it('refuses a second request under a serial already in flight, and keeps the first', () => {
    const table = new RequestTable<ReturnType<typeof request>>();
    const first = request(9);
    table.add(first);
    table.add(request(9 + 64)); // the same slot: the table grows
    expect(() => table.add(request(9))).toThrow('request serial 9 is already in flight');
    expect(table.get(9)).toBe(first);
    expect(table.get(9 + 64)?.serial).toBe(9 + 64);
  });
});
