export const metadata = { title: 'fakeidp example: authkit-nextjs 3.0.1' };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
