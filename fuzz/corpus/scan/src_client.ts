const token = process.env.API_TOKEN;
export function auth(password: string): Promise<Token> {
  return login({ password, token });
}
