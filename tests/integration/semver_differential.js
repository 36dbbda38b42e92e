// Evaluates semver_differential_test.cc's cases with npm's own semver and prints the answers
// as JSON, one array per case list, in the same order.
// Usage: node semver_differential.js <path to npm's node_modules/semver> <cases.json>
'use strict'

const fs = require('fs')
const semver = require(process.argv[2])
const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))

// The option combinations every case list is run with, in this order.
const OPTIONS = [
  {},
  { loose: true },
  { includePrerelease: true },
  { loose: true, includePrerelease: true },
]
const THROW = { throw: true }

const guard = (f) => {
  try {
    return f()
  } catch (e) {
    return THROW
  }
}

// A parsed version as the C++ side prints it: "1.2.3-beta.1|build.meta|sn" where the last
// part says which prerelease identifiers are numbers (n) and which strings (s).
const describe = (v) => v === null ? null
  : `${v.version}|${v.build.join('.')}|${
    v.prerelease.map(id => typeof id === 'number' ? 'n' : 's').join('')}`

const perOptions = (f) => OPTIONS.map(o => guard(() => f(o)))

const out = {
  versions: cases.versions.map(v => perOptions(o => ({
    parse: describe(semver.parse(v, o)),
    valid: semver.valid(v, o),
    clean: semver.clean(v, o),
  }))),
  pairs: cases.pairs.map(([a, b]) => [false, true].map(loose => guard(() => {
    const x = new semver.SemVer(a, { loose })
    const y = new semver.SemVer(b, { loose })
    return [
      semver.compare(x, y, { loose }),
      semver.compareBuild(x, y, { loose }),
      semver.rcompare(x, y, { loose }),
      semver.cmp(x, '===', y, { loose }),
      semver.cmp(x, '<=', y, { loose }),
    ]
  }))),
  ranges: cases.ranges.map(r => perOptions(o => semver.validRange(r, o))),
  satisfies: cases.satisfies.map(([v, r]) => perOptions(o => semver.satisfies(v, r, o))),
  best: cases.best.map(([vs, r]) => perOptions(o =>
    [semver.maxSatisfying(vs, r, o), semver.minSatisfying(vs, r, o)])),
  inc: cases.inc.map(([v, release, identifier, base, loose]) => guard(() =>
    semver.inc(v, release, { loose }, identifier === null ? undefined : identifier,
      base === null ? undefined : base))),
  diff: cases.diff.map(([a, b]) => guard(() => semver.diff(a, b))),
  coerce: cases.coerce.map(text => [
    {},
    { rtl: true },
    { includePrerelease: true },
    { rtl: true, includePrerelease: true },
    { loose: true, includePrerelease: true },
  ].map(o => guard(() => describe(semver.coerce(text, o))))),
  intersects: cases.intersects.map(([a, b]) => perOptions(o => semver.intersects(a, b, o))),
}
process.stdout.write(JSON.stringify(out))
