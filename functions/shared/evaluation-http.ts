/** The 404 of the evaluation routes, for an unknown evaluation id (or one too long to be one). */
export const evaluationNotFound = (id: string): string => `no evaluation ${id} in this project`;
