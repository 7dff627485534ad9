// The official `e2b` npm SDK, unmodified, against sandboxer's E2B-compatible
// API (started by tests/tests/e2e/e2b.rs, which names it in E2B_API_URL and
// E2B_SANDBOX_URL, both loopback, and gives the key in E2B_API_KEY and the
// template in SANDBOXER_E2B_TEMPLATE). Run with `node --test`.
'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')
const fs = require('node:fs')

for (const name of ['E2B_API_URL', 'E2B_SANDBOX_URL']) {
  const host = new URL(process.env[name]).hostname
  assert.ok(['127.0.0.1', 'localhost', '[::1]'].includes(host), `${name} must be loopback, not ${host}`)
}
delete process.env.E2B_DEBUG
delete process.env.E2B_DOMAIN

const { Sandbox, CommandExitError, NotFoundError } = require('e2b')
const template = process.env.SANDBOXER_E2B_TEMPLATE

function recordId(id) {
  fs.appendFileSync(process.env.SANDBOXER_E2B_IDS, id + '\n')
}

test('a sandbox is created, worked in, listed and killed', async () => {
  const run = Math.random().toString(36).slice(2, 10)
  const sbx = await Sandbox.create(template, { metadata: { suite: run }, timeoutMs: 600_000 })
  recordId(sbx.sandboxId)
  try {
    const seen = []
    const result = await sbx.commands.run('for i in 1 2 3; do echo line$i; sleep 0.4; done', {
      onStdout: (data) => seen.push([Date.now(), data]),
    })
    const finished = Date.now()
    assert.deepEqual(seen.map(([, d]) => d.trim()), ['line1', 'line2', 'line3'])
    assert.ok(finished - seen[0][0] > 700, 'the first line came only at the end')
    assert.equal(result.stdout, 'line1\nline2\nline3\n')

    await assert.rejects(sbx.commands.run('exit 3'), (e) => e instanceof CommandExitError && e.exitCode === 3)

    const handle = await sbx.commands.run('sleep 300', { background: true })
    assert.ok((await sbx.commands.list()).some((p) => p.pid === handle.pid))
    assert.equal(await handle.kill(), true)
    await assert.rejects(handle.wait(), (e) => e instanceof CommandExitError)

    await sbx.files.write('/tmp/js/hello.txt', 'hello from node\n')
    assert.equal(await sbx.files.read('/tmp/js/hello.txt'), 'hello from node\n')
    const names = (await sbx.files.list('/tmp/js')).map((e) => e.name)
    assert.deepEqual(names, ['hello.txt'])

    await sbx.setTimeout(1_200_000)
    const info = await sbx.getInfo()
    const left = new Date(info.endAt).getTime() - Date.now()
    assert.ok(left > 19 * 60_000 && left <= 20 * 60_000 + 5_000, `${left} ms left`)

    const listed = await Sandbox.list({ query: { metadata: { suite: run } } }).nextItems()
    assert.deepEqual(listed.map((s) => s.sandboxId), [sbx.sandboxId])
  } finally {
    assert.equal(await sbx.kill(), true)
  }
  assert.equal(await Sandbox.kill(sbx.sandboxId), false)
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId), (e) => e instanceof NotFoundError || /not found/i.test(String(e)))
})
