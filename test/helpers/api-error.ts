import OpenAI from 'openai';

/** The API error a call must fail with (a call that succeeds fails the test). */
export async function apiError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('the call succeeded; an error was expected');
}
