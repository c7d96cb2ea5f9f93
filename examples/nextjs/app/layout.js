export const metadata = { title: 'fakeidp example: authkit-nextjs 4.3.2' };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
