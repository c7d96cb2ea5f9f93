/** @type {import('next').NextConfig} */
const nextConfig = {
  // The example is tested on loopback only: no telemetry, no image service.
  images: { unoptimized: true },
};

export default nextConfig;
