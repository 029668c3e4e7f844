/** The many-hosts suite (test/support/many-hosts-suite.ts) with every store in PostgreSQL. */
import { manyHostsSuite } from './support/many-hosts-suite.js';

manyHostsSuite('postgres');
