# Build: docker build -t tidings .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/tidings ./cmd/tidings \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/receiver ./cmd/receiver

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tidings /out/receiver /usr/local/bin/
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tidings"]
CMD ["all"]
