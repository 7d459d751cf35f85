import type { Metadata } from "next";
import type { ReactNode } from "react";

import { TopBar } from "./_components/nav";
import { TRPCReactProvider } from "./_trpc/react";

import "./globals.css";

export const metadata: Metadata = {
  title: "LVS Dashboard",
  description: "Observability, diagnostics and setup for Linux Virtual Server (IPVS) directors",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <TRPCReactProvider>
          <TopBar />
          {children}
        </TRPCReactProvider>
      </body>
    </html>
  );
}
