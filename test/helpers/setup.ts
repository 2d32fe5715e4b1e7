// Loaded before every test file (vitest.config.mts), so that an assertion about megabytes fails as a short line
// (test/helpers/large-values.ts): byte arrays compare in one memcmp, and a failing assertion's values are shortened
// before chai formats its message (its inspector lists every index of a typed array, sixteen million strings for a
// 16 MiB Buffer), as is the value of a promise that resolved where `.rejects` expected it to reject.
import { chai, expect } from 'vitest';
import { byteArrayEquality, firstDifference, shorten } from './large-values';

expect.addEqualityTesters([byteArrayEquality]);

chai.use((chai, utils) => {
  const { Assertion } = chai;
  const assert = Assertion.prototype.assert;
  Assertion.prototype.assert = function (this: Chai.AssertionStatic, ...args: Parameters<typeof assert>) {
    const [expression, message, negatedMessage, expected, actual, showDiff] = args;
    const negated = Boolean(utils.flag(this, 'negate'));
    if (Boolean(expression) !== negated) return assert.apply(this, args);
    const subject: unknown = utils.flag(this, 'object');
    const difference = firstDifference(subject, expected);
    utils.flag(this, 'object', shorten(subject));
    const withDifference = (text: typeof message) =>
      typeof text === 'string' && difference !== '' ? `${text}: ${difference}` : text;
    const short = [expression, withDifference(message), withDifference(negatedMessage), shorten(expected)] as const;
    return assert.call(this, ...short, shorten(actual), showDiff);
  };

  utils.overwriteProperty(
    Assertion.prototype,
    'rejects',
    (rejects: () => unknown) =>
      function (this: Chai.AssertionStatic) {
        const subject: unknown = utils.flag(this, 'object');
        const promise = typeof subject === 'function' ? (subject as () => unknown)() : subject;
        if (promise instanceof Promise)
          utils.flag(
            this,
            'object',
            promise.then((value: unknown) => shorten(value)),
          );
        return rejects.call(this);
      },
  );
});
