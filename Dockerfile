# roamdns: multi-stage build. The build stage compiles TypeScript; the runtime stage carries only
# the compiled code and production dependencies, and runs `roamdns serve` as an unprivileged user.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY server ./server
COPY health ./health
COPY failover ./failover
COPY cli ./cli
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY zones ./zones
# In the container the server listens on port 53 of every interface; the status API stays on loopback
# unless you mount a config that says otherwise.
RUN printf 'zones: /app/zones\ndns:\n  listen: ["0.0.0.0:53", "[::]:53"]\nstatus:\n  listen: 127.0.0.1:8053\n' > /app/roamdns.yaml \
 && chown -R node:node /app
# Binding port 53 needs CAP_NET_BIND_SERVICE; give it to node itself rather than run as root.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
USER node
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve", "--config", "/app/roamdns.yaml"]
