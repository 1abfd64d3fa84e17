import { expect } from 'chai'
import { searchEntries, SearchScore } from '../../../../skills/index/index.js'
import { entry } from './entries.js'

/**
 * Search ranks the latest version of each name+author against the query's words: the whole
 * name first, then a dash-separated part of it, then a substring; tags, category and a word
 * start in the description add to it. Ties go by name; nothing that matches no word is listed.
 */
describe('skills/index: search ranking', function () {
  const entries = [
    entry('csv', '1.0.0', { description: 'reads tables' }),
    entry('csv-to-json', '1.0.0', { tags: ['convert'], category: 'data' }),
    entry('xcsvtool', '1.0.0'),
    entry('summarize', '1.0.0', { description: 'Shortens csv files', tags: ['CSV'], category: 'text' }),
    entry('unrelated', '1.0.0', { description: 'nothing to see' })
  ]

  it('scores the whole name over a name part over a substring, and adds tags and description', () => {
    const hits = searchEntries(entries, 'csv')
    expect(hits.map(h => [h.name, h.score])).to.deep.equal([
      ['csv', SearchScore.NAME],
      ['summarize', SearchScore.TAG + SearchScore.DESCRIPTION],
      ['csv-to-json', SearchScore.NAME_PART],
      ['xcsvtool', SearchScore.IN_NAME]
    ])
  })

  it('adds up every word of the query, category included', () => {
    const hits = searchEntries(entries, 'JSON data')
    expect(hits.map(h => h.name)).to.deep.equal(['csv-to-json'])
    expect(hits[0].score).to.equal(SearchScore.NAME_PART + SearchScore.CATEGORY)
  })

  it('matches the description only at a word start', () => {
    expect(searchEntries([entry('a', '1.0.0', { description: 'the subtable' })], 'table')).to.deep.equal([])
    expect(searchEntries([entry('a', '1.0.0', { description: 'the table' })], 'table')[0].score).to.equal(SearchScore.DESCRIPTION)
  })

  it('breaks ties by name and lists everything for an empty query', () => {
    const hits = searchEntries(entries, '')
    expect(hits.map(h => h.name)).to.deep.equal(['csv', 'csv-to-json', 'summarize', 'unrelated', 'xcsvtool'])
    expect(hits.every(h => h.score === 1)).to.equal(true)
  })

  it('lists only the latest version per name and author', () => {
    const hits = searchEntries([
      entry('csv', '1.2.0'), entry('csv', '1.10.0'), entry('csv', '1.9.0'), entry('csv', '0.1.0', {}, 'z6MkBob')
    ], 'csv')
    expect(hits.map(h => `${h.version} ${h.author}`)).to.deep.equal(['1.10.0 z6MkAlice', '0.1.0 z6MkBob'])
  })

  it('filters by exact tag and category', () => {
    expect(searchEntries(entries, '', { tag: 'convert' }).map(h => h.name)).to.deep.equal(['csv-to-json'])
    expect(searchEntries(entries, '', { tag: 'csv' }).map(h => h.name)).to.deep.equal([])
    expect(searchEntries(entries, 'csv', { category: 'text' }).map(h => h.name)).to.deep.equal(['summarize'])
  })

  it('returns what a client shows: version, CID, author, description, category, tags', () => {
    const [hit] = searchEntries(entries, 'summarize')
    const e = entries[3]
    expect(hit).to.deep.equal({
      name: 'summarize', version: '1.0.0', cid: e.release.cid, author: e.release.author,
      description: 'Shortens csv files', category: 'text', tags: ['CSV'], score: SearchScore.NAME
    })
  })
})
