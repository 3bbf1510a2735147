// The signed-in user: the token from IdentityService/Login, kept for this tab's session
// (sessionStorage: gone when the tab closes, never shared with other tabs).
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { Role } from "./gen/fleuve/identity/v1/identity_pb";

export interface Session {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  userId: string;
  email: string;
  displayName: string;
  role: Role;
  organisationId: string;
}

const KEY = "fleuve.session";

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    return session.expiresAt > Date.now() ? session : null;
  } catch {
    return null;
  }
}

let current: Session | null = load();

/** The token of the signed-in user, for the transport's interceptor. */
export function currentToken(): string | null {
  if (current && current.expiresAt <= Date.now()) current = null;
  return current?.token ?? null;
}

interface SessionContext {
  session: Session | null;
  signIn: (session: Session) => void;
  signOut: () => void;
}

const Context = createContext<SessionContext | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(current);
  const signIn = useCallback((next: Session) => {
    current = next;
    sessionStorage.setItem(KEY, JSON.stringify(next));
    setSession(next);
  }, []);
  const signOut = useCallback(() => {
    current = null;
    sessionStorage.removeItem(KEY);
    setSession(null);
  }, []);
  const value = useMemo(() => ({ session, signIn, signOut }), [session, signIn, signOut]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionContext {
  const context = useContext(Context);
  if (!context) throw new Error("useSession outside SessionProvider");
  return context;
}

export const isStaff = (role: Role | undefined) => role === Role.REVIEWER || role === Role.ADMIN;
export { Role };
