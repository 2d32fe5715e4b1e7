// The native record scanner (native/protocol/record_scanner.h) on byte tables: records written out byte by byte, not
// by the client's encoder, so that the scanner and the client cannot share a mistake.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/addon/native';

/** Bytes from hex pairs and quoted ASCII: hex('01 04', '"AB"'). */
function bytes(...parts: string[]): Buffer {
  return Buffer.concat(
    parts.map((part) =>
      part.startsWith('"') ? Buffer.from(part.slice(1, -1), 'latin1') : Buffer.from(part.replace(/\s+/g, ''), 'hex'),
    ),
  );
}

const beginResponder = bytes('01 01 0001 0008 00 00', '0001 00 0000000000');
const beginFilter = bytes('01 01 0001 0008 00 00', '0003 00 0000000000');
const paramsAb = bytes('01 04 0001 0004 04 00', '01 01', '"Ab"', '00000000'); // A=b, padded to 8
const paramsEnd = bytes('01 04 0001 0000 00 00');
const stdinBody = bytes('01 05 0001 0003 05 00', '"hey"', '0000000000');
const stdinEnd = bytes('01 05 0001 0000 00 00');
const dataEnd = bytes('01 08 0001 0000 00 00');
const abortRequest = bytes('01 02 0001 0000 00 00');
const request = Buffer.concat([beginResponder, paramsAb, paramsEnd, stdinBody, stdinEnd]);
// What libfcgi is shown of them: the records without their padding (libfcgi 2.4.2 loses track of an empty record's).
const paramsAbShown = bytes('01 04 0001 0004 00 00', '01 01', '"Ab"');
const stdinBodyShown = bytes('01 05 0001 0003 00 00', '"hey"');
const requestShown = Buffer.concat([beginResponder, paramsAbShown, paramsEnd, stdinBodyShown, stdinEnd]);

const scan = (input: Buffer, { maxParamsSize = 1 << 20, maxConns = 4, stopAtInputEnd = false } = {}) =>
  native().scanRecords(input, maxParamsSize, maxConns, stopAtInputEnd);

describe('the record scanner', () => {
  it('shows a whole responder request without its padding and follows it to the end of its input', () => {
    const verdict = scan(request);
    expect(verdict.shown).toEqual(requestShown);
    expect(verdict).toMatchObject({
      consumed: request.length,
      violation: null,
      requestId: 1,
      paramsEnded: true,
      inputEnded: true,
      abortSeen: false,
      heldHeaderBytes: 0,
    });
    expect(verdict.replies).toHaveLength(0);
  });

  it.each([1, 3, 7])('holds back the first %i bytes of a header until it is whole', (count) => {
    const verdict = scan(request.subarray(0, count));
    expect(verdict).toMatchObject({ consumed: count, heldHeaderBytes: count, requestId: 0 });
    expect(verdict.shown).toHaveLength(0);
  });

  it('ends the input at the empty FCGI_DATA record for the filter role, not at the end of FCGI_STDIN', () => {
    const head = Buffer.concat([beginFilter, paramsEnd, stdinEnd]);
    expect(scan(head).inputEnded).toBe(false);
    expect(scan(Buffer.concat([head, dataEnd])).inputEnded).toBe(true);
  });

  it('answers FCGI_GET_VALUES itself, each known name once however often asked, and shows libfcgi nothing', () => {
    const names = bytes('0e00', '"FCGI_MAX_CONNS"', '0d00', '"FCGI_MAX_REQS"', '0f00', '"FCGI_MPXS_CONNS"');
    const repeated = bytes('0e00', '"FCGI_MAX_CONNS"', '0500', '"OTHER"');
    const content = Buffer.concat([names, repeated]); // 48 + 23 = 71 bytes, padded by 1
    const getValues = Buffer.concat([bytes('01 09 0000 0047 01 00'), content, Buffer.alloc(1)]);
    const verdict = scan(getValues, { maxConns: 4 });
    expect(verdict.shown).toHaveLength(0);
    expect(verdict).toMatchObject({ consumed: getValues.length, heldHeaderBytes: 0 });
    const pairs = bytes('0e01', '"FCGI_MAX_CONNS4"', '0d01', '"FCGI_MAX_REQS4"', '0f01', '"FCGI_MPXS_CONNS0"');
    expect(pairs).toHaveLength(51);
    expect(verdict.replies).toEqual(Buffer.concat([bytes('01 0a 0000 0033 05 00'), pairs, Buffer.alloc(5)]));
  });

  it('answers GET_VALUES with what it could read when a pair is cut short', () => {
    const content = bytes('0e00', '"FCGI_MAX_CONNS"', '7f00', '"FCGI"'); // the second name claims 127 bytes
    const getValues = Buffer.concat([bytes('01 09 0000 0016 02 00'), content, Buffer.alloc(2)]);
    const pairs = bytes('0e01', '"FCGI_MAX_CONNS4"');
    expect(scan(getValues).replies).toEqual(Buffer.concat([bytes('01 0a 0000 0011 07 00'), pairs, Buffer.alloc(7)]));
  });

  it('answers any other management record with FCGI_UNKNOWN_TYPE naming its type', () => {
    const verdict = scan(bytes('01 63 0000 0002 06 00', 'abcd', '000000000000'));
    expect(verdict.shown).toHaveLength(0);
    expect(verdict.replies).toEqual(bytes('01 0b 0000 0008 00 00', '63 00000000000000'));
  });

  it('refuses PARAMS as soon as a declared length passes maxParamsSize, before the name arrives', () => {
    const huge = bytes('01 04 0001 0008 00 00', 'ffffffff 00', '"abc"'); // a name of 2^31 - 1 bytes
    const verdict = scan(Buffer.concat([beginResponder, huge]));
    expect(verdict.violation).toBe('paramsTooLarge');
    expect(verdict.message).toContain('maxParamsSize (1048576 bytes)');
    expect(verdict.message).toContain('2147483647 bytes');
    expect(verdict.consumed).toBe(beginResponder.length + 8); // stopped at the record's first content byte
  });

  it('counts the parameter limit across PARAMS records, names, values and length bytes', () => {
    const pair = bytes('01 04 0001 0008 00 00', '01 05', '"Avalue"'); // 2 + 1 + 5 = 8 bytes
    const input = Buffer.concat([beginResponder, pair, pair]);
    expect(scan(input, { maxParamsSize: 16 }).violation).toBeNull();
    expect(scan(input, { maxParamsSize: 15 }).violation).toBe('paramsTooLarge');
  });

  it('reads four-byte lengths whole in a record and cut across two records alike', () => {
    // A name of 3 bytes declared in four bytes, a value of 1: 4 + 1 + 3 + 1 = 9 bytes against the limit.
    const whole = bytes('01 04 0001 0009 07 00', '80000003 01', '"abcX"', '00000000000000');
    const cut = Buffer.concat([
      bytes('01 04 0001 0002 06 00', '8000', '000000000000'), // the name's length cut after two bytes
      bytes('01 04 0001 0007 01 00', '0003 01', '"abcX"', '00'),
    ]);
    const wholeShown = bytes('01 04 0001 0009 00 00', '80000003 01', '"abcX"');
    const cutShown = bytes('01 04 0001 0002 00 00', '8000', '01 04 0001 0007 00 00', '0003 01', '"abcX"');
    for (const [params, shown] of [
      [whole, wholeShown],
      [cut, cutShown],
    ] as const) {
      const input = Buffer.concat([beginResponder, params, paramsEnd]);
      expect(scan(input, { maxParamsSize: 9 })).toMatchObject({ violation: null, paramsEnded: true });
      expect(scan(input, { maxParamsSize: 9 }).shown).toEqual(Buffer.concat([beginResponder, shown, paramsEnd]));
      expect(scan(input, { maxParamsSize: 8 }).violation).toBe('paramsTooLarge');
    }
  });

  it('refuses a record of another FastCGI version: not a FastCGI peer', () => {
    const verdict = scan(bytes('"GET / HTTP/1.1\r\n"'));
    expect(verdict.violation).toBe('unsupportedVersion');
    expect(verdict.message).toContain('version 71');
  });

  it('keeps FCGI_ABORT_REQUEST from libfcgi and reports it, in the event loop mode', () => {
    const input = Buffer.concat([beginResponder, paramsEnd, abortRequest]);
    const verdict = scan(input, { stopAtInputEnd: true });
    expect(verdict.abortSeen).toBe(true);
    expect(verdict.shown).toEqual(Buffer.concat([beginResponder, paramsEnd]));
    expect(scan(input).shown).toEqual(input); // the synchronous loop's libfcgi sees it, as it always has
  });

  it('stops at the end of the input in the event loop mode, and sees an abort among what waits', () => {
    const next = Buffer.concat([abortRequest, beginResponder]);
    const verdict = scan(Buffer.concat([request, next]), { stopAtInputEnd: true });
    expect(verdict.consumed).toBe(request.length);
    expect(verdict.shown).toEqual(requestShown);
    expect(verdict.abortFollows).toBe(true);
    expect(scan(Buffer.concat([request, beginResponder]), { stopAtInputEnd: true }).abortFollows).toBe(false);
  });

  it("keeps another request's records from libfcgi, uncounted, but for its BEGIN_REQUEST, which libfcgi refuses", () => {
    const otherBegin = bytes('01 01 0002 0008 00 00', '0001 00 0000000000');
    const otherParams = bytes('01 04 0002 0004 04 00', '01 01', '"Zz"', '00000000');
    const otherParamsEnd = bytes('01 04 0002 0000 00 00'); // empty: libfcgi alone would then skip the body below
    const head = Buffer.concat([beginResponder, paramsAb, paramsEnd]);
    const input = Buffer.concat([head, otherBegin, otherParams, otherParamsEnd, stdinBody, stdinEnd]);
    const verdict = scan(input, { maxParamsSize: 6 });
    expect(verdict.violation).toBeNull();
    expect(verdict.requestId).toBe(1);
    expect(verdict.shown).toEqual(
      Buffer.concat([beginResponder, paramsAbShown, paramsEnd, otherBegin, stdinBodyShown, stdinEnd]),
    );
    expect(verdict.inputEnded).toBe(true);
  });

  it('keeps records of a request id from libfcgi before any request has begun', () => {
    const stray = Buffer.concat([abortRequest, bytes('01 05 0007 0000 00 00')]);
    const verdict = scan(Buffer.concat([stray, request]));
    expect(verdict.shown).toEqual(requestShown);
    expect(verdict.requestId).toBe(1);
  });
});
