/**
 * The skill index moved to skills/index. This re-export keeps node/tasks' type import working
 * until node/tasks imports from the face (`../../skills/index/index.js`); remove it then.
 */
export type { Admission, IndexEntry, SearchHit, SkillIndex } from '../../skills/index/index.js'
