// The official JavaScript PostgREST client (@supabase/postgrest-js) against a running
// restable.
//
// Run by tests/clients/run.sh: RESTABLE_URL is the server's base URL, on a fresh database
// loaded with the music fixture (tests/fixtures/music.*.sql); RESTABLE_CLIENTS_NODE is the
// npm prefix the client was installed into. The checks run in file order: reads first (on
// the untouched fixture), then writes, each on rows it names itself.
//
// Prints `ok NAME` per passing check, and for a failing one `FAIL NAME`, the reason, and
// the last request the client sent with restable's answer. Closes with
// `RESULT <passed> <failed>`. Where restable deliberately differs from PostgREST (SPEC.md),
// the check follows SPEC.md and says so.

import { createRequire } from 'node:module'
import { join } from 'node:path'
import { deepStrictEqual } from 'node:assert/strict'

const BASE = process.env.RESTABLE_URL ?? 'http://127.0.0.1:8080'
const BACKEND = process.env.RESTABLE_BACKEND ?? '?'
const PREFIX = process.env.RESTABLE_CLIENTS_NODE ?? join(process.cwd(), 'target/clients-node')

const require = createRequire(join(PREFIX, 'package.json'))
const { PostgrestClient, PostgrestError } = require('@supabase/postgrest-js')

// The last exchange, shown when a check fails.
let LAST = null
const SHOWN_REQ = ['accept', 'prefer', 'content-type', 'range']
const SHOWN_RES = ['content-type', 'content-range', 'preference-applied', 'location']

async function recordingFetch(url, init = {}) {
  const res = await fetch(url, init)
  const text = await res.clone().text()
  const reqHeaders = Object.fromEntries(
    Object.entries(init.headers ?? {}).filter(([k]) => SHOWN_REQ.includes(k.toLowerCase()))
  )
  const resHeaders = {}
  res.headers.forEach((v, k) => {
    if (SHOWN_RES.includes(k)) resHeaders[k] = v
  })
  LAST = {
    request: `${init.method ?? 'GET'} ${decodeURIComponent(url)}\n      headers: ${JSON.stringify(reqHeaders)}\n      body: ${init.body ?? '(none)'}`,
    response: `${res.status}\n      headers: ${JSON.stringify(resHeaders)}\n      body: ${text.slice(0, 500) || '(none)'}`,
  }
  return res
}

const client = new PostgrestClient(BASE, { fetch: recordingFetch })
const from = (t) => client.from(t)

const TESTS = []
const test = (name, fn) => TESTS.push({ name, fn })

function eq(actual, expected, what = 'value') {
  try {
    deepStrictEqual(actual, expected)
  } catch {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

// A successful response: no error, and this status when given. Returns its data.
function ok(res, status) {
  if (res.error) throw new Error(`unexpected error (status ${res.status}): ${JSON.stringify(res.error)}`)
  if (status !== undefined) eq(res.status, status, 'status')
  return res.data
}

const ids = (res) => ok(res).map((r) => r.id)

// An error response with this code (and exact message when given). Returns the error.
function fails(res, code, message) {
  if (!res.error) throw new Error(`expected error ${code}, got status ${res.status}: ${JSON.stringify(res.data)}`)
  eq(res.error.code, code, `error.code (message ${JSON.stringify(res.error.message)})`)
  if (message !== undefined) eq(res.error.message, message, 'error.message')
  eq(res.data, null, 'data on error')
  return res.error
}

// ---------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------

test('select columns', async () => {
  const data = ok(await from('artists').select('id, name').order('id'), 200)
  eq(data, [
    { id: 1, name: 'AC/DC' },
    { id: 2, name: 'Accept' },
    { id: 3, name: 'Aerosmith' },
    { id: 4, name: 'Audioslave' },
    { id: 5, name: 'Crosby, Stills and Nash' },
  ])
})

test('select * and types', async () => {
  const [row] = ok(await from('tracks').select().eq('id', 6))
  eq(row.name, 'Walk On Water', 'name')
  eq(row.album_id, 5, 'album_id')
  eq(row.milliseconds, 295680, 'milliseconds')
  eq(Number(row.unit_price), 1.29, 'unit_price')
  eq(row.genre, null, 'genre')
})

test('select alias', async () => {
  eq(ok(await from('albums').select('title, when:year').eq('id', 2)), [{ title: 'Back in Black', when: 1980 }])
})

test('eq', async () => eq(ids(await from('tracks').select('id').eq('genre', 'Metal').order('id')), [4, 5]))
test('neq', async () => eq(ids(await from('albums').select('id').neq('artist_id', 1).order('id')), [3, 4, 5, 6, 7]))
test('gt', async () => eq(ids(await from('tracks').select('id').gt('milliseconds', 300000).order('id')), [1, 3, 4]))
test('gte', async () => eq(ids(await from('albums').select('id').gte('year', 1994).order('id')), [5, 6]))
test('lt', async () => eq(ids(await from('albums').select('id').lt('year', 1981)), [2]))
test('lte', async () => eq(ids(await from('albums').select('id').lte('year', 1981).order('id')), [1, 2]))
test('gt and lt on one column', async () => {
  eq(ids(await from('albums').select('id').gt('year', 1980).lt('year', 1990).order('id')), [1, 3, 4])
})

test('like', async () => {
  eq(ids(await from('artists').select('id').like('name', 'A*').order('id')), [1, 2, 3, 4])
  eq(ids(await from('artists').select('id').like('name', '%slave')), [4])
  eq(ids(await from('artists').select('id').like('name', 'ac*')), [], 'like is case-sensitive')
})

test('ilike', async () => {
  eq(ids(await from('artists').select('id').ilike('name', 'ac*').order('id')), [1, 2])
  eq(ids(await from('artists').select('id').ilike('name', '%STILLS%')), [5])
})

test('likeAnyOf', async () => {
  eq(ids(await from('albums').select('id').likeAnyOf('title', ['B*', 'R*']).order('id')), [2, 3, 4, 5])
})

test('likeAllOf', async () => {
  eq(ids(await from('albums').select('id').likeAllOf('title', ['B*', '*l'])), [3])
})

test('ilikeAnyOf / ilikeAllOf', async () => {
  eq(ids(await from('artists').select('id').ilikeAnyOf('name', ['*SLAVE', '*nash']).order('id')), [4, 5])
  eq(ids(await from('artists').select('id').ilikeAllOf('name', ['a*', '*H'])), [3])
})

test('is null', async () => {
  eq(ids(await from('albums').select('id').is('year', null)), [7])
  eq(ids(await from('tracks').select('id').is('genre', null)), [6])
})

test('isDistinct', async () => {
  eq(ids(await from('tracks').select('id').isDistinct('genre', 'Rock').order('id')), [4, 5, 6, 7, 8])
})

test('regexMatch / regexIMatch', async () => {
  eq(ids(await from('artists').select('id').regexMatch('name', '^A[ce]').order('id')), [2, 3])
  eq(ids(await from('artists').select('id').regexIMatch('name', '^a[ce]').order('id')), [1, 2, 3])
})

test('in', async () => {
  eq(ids(await from('artists').select('id').in('id', [2, 4]).order('id')), [2, 4])
  // a value with a comma: the client quotes it
  eq(ids(await from('artists').select('id').in('name', ['AC/DC', 'Crosby, Stills and Nash']).order('id')), [1, 5])
  eq(ids(await from('artists').select('id').in('id', [])), [], 'in.() matches nothing')
  // parentheses too
  eq(ids(await from('tracks').select('id').in('name', ['For Those About To Rock (We Salute You)', 'Cochise']).order('id')), [1, 7])
})

test('values with punctuation', async () => {
  eq(ids(await from('artists').select('id').eq('name', 'Crosby, Stills and Nash')), [5])
  eq(ids(await from('artists').select('id').eq('name', 'AC/DC')), [1])
  eq(ids(await from('tracks').select('id').eq('name', 'For Those About To Rock (We Salute You)')), [1])
})

test('not', async () => {
  eq(ids(await from('albums').select('id').not('year', 'is', null).order('id')), [1, 2, 3, 4, 5, 6])
  // NULL genre is neither Rock nor not Rock
  eq(ids(await from('tracks').select('id').not('genre', 'eq', 'Rock').order('id')), [4, 5, 7, 8])
  eq(ids(await from('tracks').select('id').not('album_id', 'in', '(1,2,3,4)').order('id')), [6, 7, 8])
})

test('or', async () => {
  eq(ids(await from('albums').select('id').or('year.lt.1981,year.is.null').order('id')), [2, 7])
  eq(
    ids(await from('tracks').select('id').or('genre.eq.Metal,and(album_id.eq.6,milliseconds.gt.250000)').order('id')),
    [4, 5, 8]
  )
})

test('match', async () => {
  eq(ids(await from('tracks').select('id').match({ album_id: 6, genre: 'Alternative' }).order('id')), [7, 8])
})

test('filter', async () => {
  eq(ids(await from('albums').select('id').filter('year', 'in', '(1980,1994)').order('id')), [2, 5])
})

test('order asc / desc', async () => {
  eq(ids(await from('albums').select('id').order('year')), [2, 1, 4, 3, 5, 6, 7])
  // descending: NULLs first, as PostgreSQL does
  eq(ids(await from('albums').select('id').order('year', { ascending: false })), [7, 6, 5, 3, 4, 1, 2])
})

test('order nullsFirst', async () => {
  eq(ids(await from('albums').select('id').order('year', { nullsFirst: true })), [7, 2, 1, 4, 3, 5, 6])
  eq(ids(await from('albums').select('id').order('year', { ascending: false, nullsFirst: false })), [6, 5, 3, 4, 1, 2, 7])
})

test('order two columns', async () => {
  eq(ids(await from('tracks').select('id').order('unit_price', { ascending: false }).order('id')), [6, 7, 8, 1, 2, 3, 4, 5])
})

test('limit', async () => eq(ids(await from('artists').select('id').order('id').limit(2)), [1, 2]))
test('range', async () => eq(ids(await from('artists').select('id').order('id').range(1, 3)), [2, 3, 4]))

test('count exact', async () => {
  let res = await from('tracks').select('id', { count: 'exact' }).eq('genre', 'Rock').order('id')
  eq(ids(res), [1, 2, 3])
  eq(res.count, 3, 'count')
  res = await from('tracks').select('id, name', { count: 'exact' }).order('id').range(0, 1)
  eq(ok(res, 206), [
    { id: 1, name: 'For Those About To Rock (We Salute You)' },
    { id: 2, name: 'Put The Finger On You' },
  ])
  eq(res.count, 8, 'count')
  res = await from('tracks').select('id', { count: 'exact' }).eq('genre', 'Jazz')
  eq(ok(res), [])
  eq(res.count, 0, 'count')
})

test('count planned / estimated', async () => {
  for (const count of ['planned', 'estimated']) {
    const res = await from('tracks').select('id', { count }).limit(1)
    eq(ok(res).length, 1, `${count}: rows`)
    if (typeof res.count !== 'number' || res.count < 1) throw new Error(`${count}: count ${res.count}`)
  }
})

test('count head', async () => {
  const res = await from('albums').select('*', { count: 'exact', head: true })
  eq(ok(res, 200), null, 'data')
  eq(res.count, 7, 'count')
  const filtered = await from('albums').select('*', { count: 'exact', head: true }).eq('artist_id', 1)
  eq(filtered.count, 2, 'filtered count')
})

test('range past the end', async () => {
  const res = await from('artists').select('id', { count: 'exact' }).range(10, 12)
  const err = fails(res, 'range_not_satisfiable')
  eq(res.status, 416, 'status')
  eq(typeof err.message, 'string', 'message')
})

test('single', async () => {
  eq(ok(await from('artists').select('id, name').eq('id', 3).single(), 200), { id: 3, name: 'Aerosmith' })
})

test('single with many rows is an error', async () => {
  const res = await from('artists').select('id').single()
  const err = fails(res, 'not_acceptable', 'Cannot coerce the result to a single JSON object')
  eq(err.details, 'The result contains 5 rows', 'details')
  eq(res.status, 406, 'status')
})

test('single with no row is an error', async () => {
  const err = fails(await from('artists').select('id').eq('id', 99).single(), 'not_acceptable')
  eq(err.details, 'The result contains 0 rows', 'details')
})

test('maybeSingle', async () => {
  eq(ok(await from('albums').select('title, year').eq('id', 6).maybeSingle()), { title: 'Audioslave', year: 2002 })
  eq(ok(await from('albums').select('title').eq('id', 999).maybeSingle()), null, 'no row')
  fails(await from('albums').select('id').eq('artist_id', 1).maybeSingle(), 'PGRST116')
})

test('csv', async () => {
  const text = ok(await from('artists').select('id,name').lte('id', 2).order('id').csv())
  eq(text.split('\n').filter((l) => l !== ''), ['id,name', '1,AC/DC', '2,Accept'])
  const quoted = ok(await from('artists').select('name').eq('id', 5).csv())
  eq(quoted.split('\n').filter((l) => l !== ''), ['name', '"Crosby, Stills and Nash"'])
})

test('composite key table', async () => {
  eq(ok(await from('playlist_items').select().eq('playlist_id', 1).order('track_id')), [
    { playlist_id: 1, track_id: 1 },
    { playlist_id: 1, track_id: 3 },
    { playlist_id: 1, track_id: 7 },
  ])
})

test('embed many-to-one, one-to-many, many-to-many', async () => {
  eq(ok(await from('albums').select('title, artists(name)').eq('id', 3)), [
    { title: 'Balls to the Wall', artists: { name: 'Accept' } },
  ])
  eq(ok(await from('artists').select('name, albums(title)').eq('id', 2).order('year', { referencedTable: 'albums' })), [
    { name: 'Accept', albums: [{ title: 'Restless and Wild' }, { title: 'Balls to the Wall' }] },
  ])
  eq(ok(await from('playlists').select('name, tracks(id)').eq('id', 2).order('id', { referencedTable: 'tracks' })), [
    { name: 'Heavy', tracks: [{ id: 4 }, { id: 5 }] },
  ])
})

test('embed referencedTable order, limit and range', async () => {
  eq(
    ok(
      await from('artists')
        .select('id, albums(id)')
        .eq('id', 1)
        .order('id', { referencedTable: 'albums', ascending: false })
        .limit(1, { referencedTable: 'albums' })
    ),
    [{ id: 1, albums: [{ id: 2 }] }]
  )
  eq(
    ok(await from('artists').select('id, albums(id)').eq('id', 2).order('id', { referencedTable: 'albums' }).range(1, 1, { referencedTable: 'albums' })),
    [{ id: 2, albums: [{ id: 4 }] }]
  )
})

test('embed !inner with a filter on the embedded rows', async () => {
  eq(ok(await from('artists').select('id, albums!inner(title)').gt('albums.year', 2000)), [
    { id: 4, albums: [{ title: 'Audioslave' }] },
  ])
  eq(ok(await from('artists').select('id, albums(title)').gt('albums.year', 2000).not('albums', 'is', null)), [
    { id: 4, albums: [{ title: 'Audioslave' }] },
  ])
})

test('embed alias and count', async () => {
  eq(ok(await from('albums').select('title, artist:artists(name)').eq('id', 1)), [
    { title: 'For Those About To Rock', artist: { name: 'AC/DC' } },
  ])
  eq(ok(await from('artists').select('name, albums(count)').eq('id', 1)), [{ name: 'AC/DC', albums: [{ count: 2 }] }])
})

// ---------------------------------------------------------------------------------------
// Aggregates (run.sh turns them on: aggregates = true)
// ---------------------------------------------------------------------------------------

test('aggregates: count() grouped, counting the groups', async () => {
  const res = await from('tracks')
    .select('genre, count()', { count: 'exact' })
    .not('genre', 'is', null)
    .order('genre')
  eq(ok(res, 200), [
    { genre: 'Alternative', count: 2 },
    { genre: 'Metal', count: 2 },
    { genre: 'Rock', count: 3 },
  ])
  eq(res.count, 3, 'count of groups')
})

test('aggregates: sum, avg and a cast, ordered by an alias', async () => {
  eq(
    ok(
      await from('tracks')
        .select('album_id, total:milliseconds.sum(), price:unit_price.sum()::float')
        .lte('album_id', 2)
        .order('total', { ascending: false }),
    ),
    [
      { album_id: 1, total: 549381, price: 1.98 },
      { album_id: 2, total: 312000, price: 0.99 },
    ],
  )
  eq(ok(await from('tracks').select('milliseconds.avg()::int')), [{ avg: 280828 }])
})

test('aggregates: inside an embed', async () => {
  eq(ok(await from('artists').select('name, albums(count())').eq('id', 5)), [
    { name: 'Crosby, Stills and Nash', albums: [{ count: 0 }] },
  ])
})

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

test('error: unknown column', async () => {
  const err = fails(
    await from('artists').select('id, nope'),
    'unknown_column',
    "column 'nope' does not exist in 'artists'"
  )
  eq(err.hint, "GET /_schema/artists lists the columns of 'artists'", 'hint')
})

test('error: unknown filter column', async () => {
  fails(await from('artists').select('id').eq('nope', 1), 'unknown_column', "column 'nope' does not exist in 'artists'")
})

test('error: invalid value', async () => {
  const err = fails(await from('artists').select().eq('id', 'abc'), 'invalid_value', "invalid value for column 'id'")
  eq(err.details, "'abc' is not an integer", 'details')
})

test('error: unique violation', async () => {
  const res = await from('artists').insert({ name: 'AC/DC' })
  eq(res.status, 409, 'status')
  const err = fails(res, 'unique_violation', 'duplicate key value violates unique constraint "artists_name_key"')
  if (!String(err.details).includes('23505')) throw new Error(`details should carry SQLSTATE 23505: ${err.details}`)
})

test('error: validation', async () => {
  const err = fails(await from('tracks').insert({ name: 5, nope: 1 }), 'validation_failed', 'the request body is not valid')
  eq(err.details.map((d) => d.path).sort(), ['/album_id', '/name', '/nope'], 'details paths')
})

test('error: foreign key violation', async () => {
  const res = await from('artists').delete().eq('id', 1)
  eq(res.status, 409, 'status')
  // The message's wording is the backend's (SQLite cannot name the constraint).
  const err = fails(res, 'foreign_key_violation')
  for (const part of ['"artists"', 'foreign key']) {
    if (!err.message.includes(part)) throw new Error(`message should mention ${part}: ${err.message}`)
  }
  if (!String(err.details).includes('23503') || !String(err.details).includes('albums_artist_id_fkey')) {
    throw new Error(`details should name albums_artist_id_fkey and SQLSTATE 23503: ${err.details}`)
  }
  eq(ids(await from('artists').select('id').eq('id', 1)), [1], 'row kept')
})

test('error: throwOnError throws PostgrestError', async () => {
  let thrown = null
  try {
    await from('artists').select('nope').throwOnError()
  } catch (e) {
    thrown = e
  }
  if (!(thrown instanceof PostgrestError)) throw new Error(`expected a PostgrestError, got ${thrown}`)
  eq(thrown.message, "column 'nope' does not exist in 'artists'", 'message')
  eq(thrown.code, 'unknown_column', 'code')
})

test('error: unknown table', async () => {
  const res = await from('nope').select()
  fails(res, 'not_found')
  eq(res.status, 404, 'status')
})

// ---------------------------------------------------------------------------------------
// Writes (each on rows it names itself)
// ---------------------------------------------------------------------------------------

test('insert object (no select: SPEC returns the row)', async () => {
  // SPEC 4.3: a POST answers with the inserted row by default (PostgREST: empty body).
  const res = await from('artists').insert({ name: 'Deep Purple' })
  eq(res.status, 201, 'status')
  eq(res.data?.name, 'Deep Purple', 'data.name')
  eq(ids(await from('artists').select('id').eq('name', 'Deep Purple')).length, 1, 'read back')
})

test('insert object with select', async () => {
  const data = ok(await from('artists').insert({ name: 'Rainbow' }).select(), 201)
  eq(data.length, 1, 'rows')
  eq(data[0].name, 'Rainbow', 'name')
  if (!(data[0].id > 5)) throw new Error(`new id should be > 5: ${JSON.stringify(data)}`)
  eq(ok(await from('artists').select('id, name').eq('id', data[0].id).single()), data[0], 'read back')
})

test('insert with select().single()', async () => {
  const row = ok(await from('playlists').insert({ name: 'Solo' }).select('id, name').single(), 201)
  eq(row.name, 'Solo', 'name')
  eq(typeof row.id, 'number', 'id')
})

test('insert array', async () => {
  const data = ok(
    await from('tracks')
      .insert([
        { name: 'Intro', album_id: 7, milliseconds: 1000 },
        { name: 'Outro', album_id: 7 },
      ])
      .select('name, milliseconds, unit_price'),
    201
  )
  eq(data.map((t) => t.name), ['Intro', 'Outro'], 'names')
  eq(data.map((t) => t.milliseconds), [1000, null], 'milliseconds (a missing key is NULL)')
  eq(data.map((t) => Number(t.unit_price)), [0.99, 0.99], 'unit_price (not in columns: default)')
  eq(ok(await from('tracks').select('name').eq('album_id', 7).order('id')).map((t) => t.name), ['Intro', 'Outro'], 'read back')
})

test('insert array defaultToNull: false', async () => {
  const data = ok(
    await from('tracks')
      .insert([{ name: 'A', album_id: 5, unit_price: 2.5 }, { name: 'B', album_id: 5 }], { defaultToNull: false })
      .select('unit_price')
  )
  eq(data.map((t) => Number(t.unit_price)), [2.5, 0.99], 'unit_price (missing=default)')
})

test('insert with count', async () => {
  const res = await from('playlists').insert([{ name: 'c1' }, { name: 'c2' }], { count: 'exact' }).select()
  eq(ok(res).length, 2, 'rows')
  eq(res.count, 2, 'count')
})

test('upsert merge on primary key', async () => {
  const data = ok(
    await from('playlists').upsert([{ id: 1, name: 'Music (renamed)' }, { id: 20, name: 'New' }]).select()
  )
  eq(data.map((p) => [p.id, p.name]).sort((a, b) => a[0] - b[0]), [[1, 'Music (renamed)'], [20, 'New']])
  eq(ok(await from('playlists').select('id, name').in('id', [1, 20]).order('id')), [
    { id: 1, name: 'Music (renamed)' },
    { id: 20, name: 'New' },
  ], 'read back')
})

test('upsert onConflict (merge)', async () => {
  // name is UNIQUE: the row of "Accept" (id 2) is updated, not a new one inserted
  const data = ok(await from('artists').upsert({ name: 'Accept' }, { onConflict: 'name' }).select())
  eq(data.map((a) => a.id), [2], 'ids')
  eq(ids(await from('artists').select('id').eq('name', 'Accept')), [2], 'one row named Accept')
})

test('upsert ignoreDuplicates', async () => {
  const data = ok(
    await from('artists')
      .upsert([{ name: 'AC/DC' }, { name: 'Motörhead' }], { onConflict: 'name', ignoreDuplicates: true })
      .select('name'),
    201
  )
  eq(data, [{ name: 'Motörhead' }], 'only the inserted row is returned')
  eq(ids(await from('artists').select('id').eq('name', 'AC/DC')), [1], 'AC/DC unchanged')
})

test('update with filter', async () => {
  const res = await from('tracks').update({ genre: 'Hard Rock' }).eq('album_id', 1).select('id, genre').order('id')
  eq(ok(res, 200), [
    { id: 1, genre: 'Hard Rock' },
    { id: 2, genre: 'Hard Rock' },
  ])
  eq(ids(await from('tracks').select('id').eq('genre', 'Hard Rock').order('id')), [1, 2], 'read back')
  eq(ids(await from('tracks').select('id').eq('genre', 'Rock')), [3], 'others untouched')
})

test('update without select', async () => {
  const res = await from('albums').update({ year: 1979 }).eq('id', 7)
  eq(ok(res, 204), null, 'data')
  eq(ok(await from('albums').select('year').eq('id', 7).single()), { year: 1979 }, 'read back')
})

test('update nothing matches', async () => {
  eq(ok(await from('tracks').update({ genre: 'X' }).eq('id', 999).select(), 200), [])
  eq(ok(await from('tracks').update({ genre: 'X' }).eq('id', 999).select().maybeSingle()), null, 'maybeSingle')
})

test('update with select().single() on many rows is rolled back', async () => {
  const res = await from('tracks').update({ genre: 'Y' }).in('id', [7, 8]).select().single()
  fails(res, 'not_acceptable')
  eq(res.status, 406, 'status')
  eq(ids(await from('tracks').select('id').eq('genre', 'Y')), [], 'nothing changed')
})

test('schema option (Accept-Profile / Content-Profile)', async () => {
  const pub = new PostgrestClient(BASE, { fetch: recordingFetch, schema: 'public' })
  eq(ok(await pub.from('artists').select('name').eq('id', 2)), [{ name: 'Accept' }], 'read')
  eq(ok(await pub.from('playlists').insert({ name: 'Profiled' }).select('name')), [{ name: 'Profiled' }], 'write')
})

test('update unfiltered is refused (SPEC)', async () => {
  // SPEC 4.3: an unfiltered PATCH is refused (PostgREST would update every row)
  fails(await from('playlists').update({ name: 'x' }), 'unfiltered_write')
})

test('delete with filter', async () => {
  ok(await from('artists').insert([{ name: 'Temp 1' }, { name: 'Temp 2' }, { name: 'Keep' }]))
  const data = ok(await from('artists').delete().like('name', 'Temp*').select('name'), 200)
  eq(data.map((a) => a.name).sort(), ['Temp 1', 'Temp 2'], 'deleted rows')
  eq(ok(await from('artists').select('id').like('name', 'Temp*')), [], 'gone')
  eq(ok(await from('artists').select('id').eq('name', 'Keep')).length, 1, 'others kept')
})

test('delete without select', async () => {
  ok(await from('playlists').insert({ name: 'Doomed' }))
  const res = await from('playlists').delete().eq('name', 'Doomed')
  eq(ok(res, 204), null, 'data')
  eq(ok(await from('playlists').select('id').eq('name', 'Doomed')), [], 'gone')
})

test('delete composite key', async () => {
  eq(ok(await from('playlist_items').delete().match({ playlist_id: 2, track_id: 5 }).select()), [
    { playlist_id: 2, track_id: 5 },
  ])
  eq(ok(await from('playlist_items').select('track_id').eq('playlist_id', 2)), [{ track_id: 4 }], 'read back')
})

test('delete unfiltered is refused (SPEC)', async () => {
  // SPEC 4.3: an unfiltered DELETE is refused (PostgREST would delete every row)
  fails(await from('playlist_items').delete(), 'unfiltered_write')
  eq(ok(await from('playlist_items').select()).length > 0, true, 'rows kept')
})

test('rollback insert', async () => {
  const res = await from('artists').insert({ name: 'Ghost' }).select().rollback()
  eq(ok(res, 201).map((a) => a.name), ['Ghost'], 'the answer shows the row')
  eq(ok(await from('artists').select('id').eq('name', 'Ghost')), [], 'nothing inserted')
})

test('rollback update', async () => {
  const res = await from('albums').update({ title: 'Changed' }).eq('id', 5).select('title').rollback()
  eq(ok(res), [{ title: 'Changed' }], 'the answer shows the change')
  eq(ok(await from('albums').select('title').eq('id', 5)), [{ title: 'Big Ones' }], 'nothing changed')
})

test('rollback delete', async () => {
  const res = await from('playlist_items').delete().eq('playlist_id', 1).select().rollback()
  eq(ok(res).length, 3, 'the answer shows the rows')
  eq(ok(await from('playlist_items').select('track_id').eq('playlist_id', 1)).length, 3, 'nothing deleted')
})

test('rollback upsert', async () => {
  ok(await from('playlists').upsert({ id: 2, name: 'Heavier' }).select().rollback())
  eq(ok(await from('playlists').select('name').eq('id', 2)), [{ name: 'Heavy' }], 'nothing changed')
})

// ---------------------------------------------------------------------------------------
// Containment (issue 20 item 4): contains / containedBy / overlaps on JSON columns on every
// backend (tests/fixtures/docs.*.sql, the same rows everywhere), and on PostgreSQL also on
// array and range columns. postgrest-js sends an array as `cs.{a,b}`, an object as JSON
// text and a string as it is.
// ---------------------------------------------------------------------------------------

const docIds = async (q) => ids(await q.order('id'))

test('contains on a JSON array (array literal)', async () => {
  eq(await docIds(from('docs').select('id').contains('tags', ['rock'])), [1, 3])
  eq(await docIds(from('docs').select('id').contains('tags', ['rock', 'pop'])), [1])
})

test('contains on a JSON column (object, and JSON text)', async () => {
  eq(await docIds(from('docs').select('id').contains('data', { a: 1 })), [1, 3])
  eq(await docIds(from('docs').select('id').contains('data', { b: { c: [2] } })), [1])
  eq(await docIds(from('docs').select('id').contains('tags', '["rock"]')), [1, 3])
  eq(await docIds(from('docs').select('id').contains('tags', '"rock"')), [1, 3, 6], 'an array holds a scalar')
})

test('containedBy on a JSON column', async () => {
  eq(await docIds(from('docs').select('id').containedBy('tags', ['rock', 'pop', 'jazz'])), [1, 2, 4, 6])
  eq(await docIds(from('docs').select('id').containedBy('data', { a: 1, b: { c: [1, 2, 3] } })), [1])
})

test('overlaps on a JSON array', async () => {
  eq(await docIds(from('docs').select('id').overlaps('tags', ['jazz', 'pop'])), [1, 2])
  eq(await docIds(from('docs').select('id').overlaps('tags', [])), [])
})

test('not, or with containment', async () => {
  eq(await docIds(from('docs').select('id').not('tags', 'cs', '{rock}')), [2, 4, 6])
  eq(await docIds(from('docs').select('id').or('tags.cs.{jazz},data.cs.{"a":1}')), [1, 2, 3])
})

test('contains on a column that is not JSON', async () => {
  const e = fails(await from('docs').select('id').contains('name', ['a']), 'bad_filter')
  eq(e.message, `operator 'cs' needs an array, range or JSON column, but column 'name' is ${
    { sqlite: 'VARCHAR(20)', postgres: 'character varying(20)', mysql: 'varchar(20)' }[BACKEND]
  }`)
})

test('update filtered by contains', async () => {
  const res = await from('docs').update({ name: 'jazzy' }).contains('tags', ['jazz']).select('id, name').rollback()
  eq(ok(res), [{ id: 2, name: 'jazzy' }])
})

if (BACKEND === 'postgres') {
  test('postgres arrays are JSON arrays', async () => {
    eq(ok(await from('items').select('tags, nums, grid').eq('id', 2)), [
      { tags: ['jazz', 'a "b"'], nums: [2, null], grid: null },
    ])
    eq(ok(await from('items').select('grid').eq('id', 1)), [{ grid: [[1, 2], [3, 4]] }])
  })

  test('postgres array contains / containedBy / overlaps', async () => {
    eq(ids(await from('items').select('id').contains('tags', ['rock'])), [1])
    eq(ids(await from('items').select('id').containedBy('nums', [1, 2, 3, 4]).order('id')), [1, 3])
    eq(ids(await from('items').select('id').overlaps('tags', ['jazz', 'pop']).order('id')), [1, 2])
  })

  test('postgres ranges', async () => {
    eq(ok(await from('items').select('span').eq('id', 1)), [{ span: '[1,10)' }])
    eq(ids(await from('items').select('id').contains('span', '[2,3)')), [1])
    eq(ids(await from('items').select('id').overlaps('span', '[6,8)').order('id')), [1, 2])
    eq(ids(await from('items').select('id').rangeLt('span', '[20,30)').order('id')), [1, 2])
    eq(ids(await from('items').select('id').rangeGt('span', '[0,2)')), [2])
    eq(ids(await from('items').select('id').rangeLte('span', '[0,8)')), [2])
    eq(ids(await from('items').select('id').rangeGte('span', '[3,8)')), [2])
    eq(ids(await from('items').select('id').rangeAdjacent('span', '[10,12)')), [1])
  })

  test('postgres array insert', async () => {
    const res = await from('items').insert({ tags: ['a,b', null], nums: [5], span: '[1,2]' }).select('tags, nums, span').rollback()
    eq(ok(res, 201), [{ tags: ['a,b', null], nums: [5], span: '[1,3)' }])
  })
}

// ---------------------------------------------------------------------------------------
// JSON paths and casts (issue 20): the `json_docs` table of tests/fixtures/json_docs.*.sql
// ---------------------------------------------------------------------------------------

test('json paths in select', async () => {
  eq(ok(await from('json_docs').select('id, data->name, n:data->>n, first:data->tags->0').order('id')), [
    { id: 1, name: 'apple', n: '3', first: 'red' },
    { id: 2, name: 'Banana', n: '10', first: 'yellow' },
    { id: 3, name: null, n: null, first: null },
  ])
  eq(ok(await from('json_docs').select('last:data->tags->-1').eq('id', 1)), [{ last: 'fruit' }], 'index from the end')
})

test('json paths in filters and order', async () => {
  eq(ids(await from('json_docs').select('id').eq('data->>name', 'apple')), [1], '->> compares text')
  eq(ids(await from('json_docs').select('id').gt('data->n', 5)), [2], '-> compares numbers')
  eq(ids(await from('json_docs').select('id').in('data->>name', ['apple', 'Banana']).order('id')), [1, 2], 'in')
  eq(ids(await from('json_docs').select('id').or('data->>name.eq.Banana,data->n.eq.3').order('id')), [1, 2], 'or')
  eq(ids(await from('json_docs').select('id').order('data->n', { ascending: false, nullsFirst: false })), [2, 1, 3], 'order')
  eq(ids(await from('json_docs').select('id').not('data->>name', 'is', null).order('data->>name')), [2, 1], 'not is null')
})

test('json path in an update filter', async () => {
  const res = await from('json_docs').update({ data: { n: 4, name: 'apple' } }).eq('data->>name', 'apple').select('id, n:data->n').rollback()
  eq(ok(res), [{ id: 1, n: 4 }])
})

test('casts in select', async () => {
  eq(ok(await from('tracks').select('id::text, unit_price::float, name').eq('id', 6)), [
    { id: '6', unit_price: 1.29, name: 'Walk On Water' },
  ])
  eq(ok(await from('json_docs').select('n:data->>n::int').eq('id', 2)), [{ n: 10 }], 'a cast of a path')
})

// ---------------------------------------------------------------------------------------

let passed = 0
let failed = 0
for (const { name, fn } of TESTS) {
  LAST = null
  try {
    await fn()
    passed++
    console.log(`ok ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL js/${BACKEND} ${name}: ${e?.message ?? e}`)
    if (!(e instanceof Error) || !e.message.includes(':')) console.log(`    ${e?.stack ?? e}`)
    if (LAST) {
      console.log(`    last request: ${LAST.request}`)
      console.log(`    answer: ${LAST.response}`)
    }
  }
}
console.log(`RESULT ${passed} ${failed}`)
process.exitCode = failed ? 1 : 0
