export default function Home() {
  return (
    <main>
      <h1>fakeidp compat: authkit-nextjs</h1>
      <p>
        <a href="/login">Sign in</a> · <a href="/dashboard">Dashboard</a> · <a href="/logout">Sign out</a>
      </p>
    </main>
  );
}
