/** What starts each line bench/otlp-server.ts itself prints (the handlers log to the same stdout). */
export const SERVER_LINE = '@otlp-bench ';
