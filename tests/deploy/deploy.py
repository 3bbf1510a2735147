#!/usr/bin/env python3
"""The deployment files as the suite checks them (tests/e2e/deploy.rs runs this).

  deploy.py render VALUES...          the chart rendered with each values file ("-" = defaults)
  deploy.py lint                      helm lint --strict of the chart
  deploy.py schema-rejects            values.schema.json refuses values of the wrong type
  deploy.py hooks VALUES              the pre-install hooks use only what exists before them: no
                                      object of the release that is not an earlier hook
  deploy.py compose-config ENVFILE    docker-compose.yml interpolated with ENVFILE, anchors merged
  deploy.py compose-validate ENVFILE  the compose spec's checks, and every depends_on target exists
  deploy.py compose-files ENVFILE     the files compose mounts name its services: Prometheus's
                                      targets, the collector's pipelines, Grafana's sources
  deploy.py containers SOURCE         the `fleuve` containers of SOURCE (helm:VALUES or
                                      compose:ENVFILE) as JSON: each one's args, environment
                                      (the image's ENV beneath) and the files mounted into it
  deploy.py edge SOURCE               the Envoy edge of SOURCE: its configuration (as JSON)
                                      and the files mounted beside it

Helm is Helm's own Go SDK (PyPI helm-python-sdk); YAML is PyYAML. Everything is printed on
standard output; errors go to standard error with exit status 1.
"""

import base64
import json
import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "helm", "fleuve")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
RELEASE, NAMESPACE = "fleuve", "fleuve"


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


_CHART = []


def chart():
    """The chart, loaded once (Helm logs each symbolic link of files/ on every load)."""
    import helm_python

    if not _CHART:
        _CHART.append(helm_python.Chart.load(CHART))
    return _CHART[0]


def values_of(path):
    if path in ("-", "", None):
        return {}
    with open(path) as f:
        return yaml.safe_load(f) or {}


def render(values_path):
    """The manifests of one install, NOTES excluded, as a list of documents."""
    out = chart().render(values_of(values_path), name=RELEASE, namespace=NAMESPACE, is_install=True)
    text = "\n---\n".join(v for k, v in sorted(out.items()) if not k.endswith("NOTES.txt"))
    return text, [d for d in yaml.safe_load_all(text) if d]


# ------------------------------------------------------------------------------------ compose


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
    return env


VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(text, env):
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$."""

    def one(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
        elif op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                fail(f"docker-compose.yml: {name} is required: {arg}")
        if value is None:
            fail(f"docker-compose.yml: {name} is not set")
        return value

    return VARIABLE.sub(one, text)


def compose_config(env_path):
    """The compose file as `docker compose config` sees it: interpolated, anchors and merge
    keys resolved, extension fields dropped."""
    with open(COMPOSE) as f:
        text = f.read()
    env = read_env_file(env_path)
    doc = yaml.safe_load(interpolate(text, env))
    return {k: v for k, v in doc.items() if not k.startswith("x-")}


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def compose_validate(env_path):
    import compose_spec

    config = compose_config(env_path)
    text = yaml.dump(config, Dumper=NoAliases, sort_keys=False)
    compose_spec.PyCompose.from_yaml(text).validate()
    services = config["services"]
    problems = []
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for target in depends if isinstance(depends, (list, dict)) else []:
            if target not in services:
                problems.append(f"{name} depends on {target}, which is not a service")
        if "healthcheck" not in service and service.get("restart") != "no":
            problems.append(f"{name} has no health check")
        for secret in service.get("secrets", []):
            source = secret["source"] if isinstance(secret, dict) else secret
            if source not in config.get("secrets", {}):
                problems.append(f"{name} uses secret {source}, which is not declared")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("./"):
                if not os.path.exists(os.path.join(ROOT, source)):
                    problems.append(f"{name} mounts {source}, which does not exist")
            elif source and source not in config.get("volumes", {}):
                problems.append(f"{name} mounts volume {source}, which is not declared")
    if problems:
        fail("\n".join(problems))
    one_shot = sorted(n for n, s in services.items() if s.get("restart") == "no")
    print(f"one-shot services (no health check, waited for with service_completed_successfully): {one_shot}")
    print(f"{len(services)} services: compose spec valid, dependencies, health checks, secrets and mounts checked")


# --------------------------------------------------------------------------------- containers


def image_env():
    """The ENV of the Dockerfile's last stage: what every container starts with."""
    env, stage = {}, None
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    for line in text.splitlines():
        words = line.strip().split()
        if not words:
            continue
        if words[0] == "FROM":
            env, stage = {}, words[-1]
        elif words[0] == "ENV":
            for pair in words[1:]:
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def env_list(entries, configmaps, secrets, pod):
    """A container's env entries resolved against the rendered ConfigMaps and Secrets, with
    Kubernetes' $(VAR) expansion of earlier entries."""
    env = {}
    for entry in entries:
        name = entry["name"]
        if "value" in entry:
            value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), str(entry["value"]))
        elif "valueFrom" in entry:
            source = entry["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = secrets.get(ref["name"])
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    fail(f"env {name}: secret {ref['name']} key {ref['key']} is not in the release")
                value = data[ref["key"]]
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                value = configmaps[ref["name"]][ref["key"]]
            elif "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                value = {"metadata.name": pod, "metadata.namespace": NAMESPACE}[path]
            else:
                fail(f"env {name}: unsupported source {source}")
        else:
            fail(f"env {name}: no value")
        env[name] = value
    return env


def service_links(services):
    """The variables the kubelet gives a container for each Service of its namespace (when the
    pod does not set enableServiceLinks: false); headless Services give none."""
    env = {}
    for service in services:
        spec = service["spec"]
        if spec.get("clusterIP") == "None":
            continue
        name = service["metadata"]["name"].upper().replace("-", "_")
        ip = "10.96.0.10"
        ports = spec.get("ports", [])
        env[f"{name}_SERVICE_HOST"] = ip
        if ports:
            env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
            env[f"{name}_PORT"] = f"tcp://{ip}:{ports[0]['port']}"
        for port in ports:
            if "name" in port:
                env[f"{name}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
            prefix = f"{name}_PORT_{port['port']}_TCP"
            env[prefix] = f"tcp://{ip}:{port['port']}"
            env[f"{prefix}_PROTO"] = "tcp"
            env[f"{prefix}_PORT"] = str(port["port"])
            env[f"{prefix}_ADDR"] = ip
    return env


def selected_by(services, labels, container):
    """The (Service, port) pairs that lead to this container: selector within the pod's labels,
    target port resolved against the container's ports."""
    by_name = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    found = []
    for service in services:
        selector = service["spec"].get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            target = by_name.get(target) if isinstance(target, str) else target
            if target is None:
                fail(f"service {service['metadata']['name']}: target port {port.get('targetPort')} is not a port of {container['name']}")
            found.append({"name": service["metadata"]["name"], "port": port["port"], "target": target})
    return found


def helm_containers(values_path):
    _, docs = render(values_path)
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    services = [d for d in docs if d["kind"] == "Service"]
    secrets = {}
    for d in docs:
        if d["kind"] == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()}
            data.update(d.get("stringData") or {})
            secrets[d["metadata"]["name"]] = data
    containers = []
    for d in docs:
        if d["kind"] not in ("Deployment", "Job"):
            continue
        template = d["spec"]["template"]
        pod = template["spec"]
        labels = template["metadata"].get("labels", {})
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            if c["name"] == "envoy":
                continue
            env = image_env()
            if pod.get("enableServiceLinks", True):
                env.update(service_links(services))
            for source in c.get("envFrom", []):
                env.update(configmaps[source["configMapRef"]["name"]])
            pod_name = f"{d['metadata']['name']}-5d8f9c7b6-x2k4q"
            env.update(env_list(c.get("env", []), configmaps, secrets, pod_name))
            files = {}
            for mount in c.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "secret" in volume:
                    data = secrets.get(volume["secret"]["secretName"])
                    if data is None:
                        fail(f"{d['metadata']['name']}: secret {volume['secret']['secretName']} is not in the release")
                    for item in volume["secret"].get("items") or [{"key": k, "path": k} for k in data]:
                        files[os.path.join(mount["mountPath"], item["path"])] = data[item["key"]]
            containers.append({
                "name": d["metadata"]["name"],
                "kind": d["kind"],
                "args": c.get("args", []),
                "env": env,
                "files": files,
                "services": selected_by(services, labels, c) if d["kind"] == "Deployment" else [],
                "probes": {k: c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c},
            })
    return containers


def compose_containers(env_path):
    config = compose_config(env_path)
    declared = config.get("secrets", {})
    containers = []
    for name, service in config["services"].items():
        if not str(service.get("image", "")).startswith(read_env_file(env_path).get("STACK_IMAGE", "fleuve")):
            continue
        env = image_env()
        env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
        files = {}
        for secret in service.get("secrets", []):
            source = secret["source"] if isinstance(secret, dict) else secret
            target = secret.get("target", source) if isinstance(secret, dict) else source
            path = target if target.startswith("/") else f"/run/secrets/{target}"
            spec = declared[source]
            if "file" in spec:
                files[path] = {"from_file": os.path.normpath(os.path.join(ROOT, spec["file"]))}
            else:
                files[path] = {"from_env": spec["environment"]}
        one_shot = service.get("restart") == "no"
        containers.append({
            "name": name,
            "kind": "Job" if one_shot else "Deployment",
            "args": service.get("command", []),
            "env": env,
            "files": files,
            # On compose's network the service name reaches the container on any port.
            "services": [] if one_shot else [{"name": name, "port": p, "target": p} for p in (50051, 9464)],
            "depends_on": sorted((service.get("depends_on") or {}).keys()),
            "healthcheck": service.get("healthcheck", {}).get("test"),
        })
    return containers


def helm_edge(values_path):
    _, docs = render(values_path)
    configmap = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-edge"))
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-edge"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
    files = {os.path.join(mount, k): {"base64": v} for k, v in (configmap.get("binaryData") or {}).items()}
    config_path = container["args"][container["args"].index("-c") + 1]
    text = configmap["data"][os.path.relpath(config_path, mount)]
    probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in container}
    return {"config": yaml.safe_load(text), "files": files, "image": container["image"], "probes": probes}


def compose_edge(env_path):
    service = compose_config(env_path)["services"]["edge"]
    command = service["command"]
    config_path = command[command.index("-c") + 1]
    files, config = {}, None
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        local = os.path.normpath(os.path.join(ROOT, source))
        if target == config_path:
            with open(local) as f:
                config = yaml.safe_load(f)
        else:
            files[target] = {"from_file": local}
    if config is None:
        fail(f"the edge's configuration {config_path} is not mounted")
    return {"config": config, "files": files, "image": service["image"], "healthcheck": service["healthcheck"]["test"]}


def host_port(url):
    rest = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.rpartition(":")
    return (host, int(port)) if host else (rest, None)


def compose_files(env_path):
    config = compose_config(env_path)
    services = config["services"]
    problems = []

    def mounted(service, target):
        for volume in services[service].get("volumes", []):
            source, mount = volume.split(":")[:2]
            if mount == target:
                return os.path.join(ROOT, source)
        problems.append(f"{service} does not mount {target}")
        return None

    def listens(service, port, what):
        if service not in services:
            problems.append(f"{what}: {service} is not a service of docker-compose.yml")
            return
        env = services[service].get("environment") or {}
        admin = env.get("FLEUVE_ADMIN__LISTEN") or image_env().get("FLEUVE_ADMIN__LISTEN")
        if env.get("FLEUVE_LISTEN") and port not in (int(admin.rsplit(":", 1)[1]), 50051):
            problems.append(f"{what}: {service} serves nothing on {port}")

    # Prometheus scrapes each Fleuve service's admin port; its rules file is mounted beside it.
    prometheus = mounted("prometheus", "/etc/prometheus/prometheus.yml")
    if prometheus:
        with open(prometheus) as f:
            scrape = yaml.safe_load(f)
        scraped = set()
        for job in scrape["scrape_configs"]:
            for static in job.get("static_configs", []):
                for target in static["targets"]:
                    host, port = target.rsplit(":", 1)
                    listens(host, int(port), f"prometheus job {job['job_name']}")
                    scraped.add(host)
        fleuve = {n for n, s in services.items() if (s.get("command") or [None])[0] == "serve"}
        if fleuve - scraped:
            problems.append(f"prometheus does not scrape {sorted(fleuve - scraped)}")
        for rules in scrape.get("rule_files", []):
            mounted("prometheus", os.path.join("/etc/prometheus", rules))

    # The collector: every pipeline's components are defined, its exporters reach services.
    collector = mounted("otel-collector", "/etc/otelcol/config.yaml")
    if collector:
        with open(collector) as f:
            otel = yaml.safe_load(f)
        for name, pipeline in otel["service"]["pipelines"].items():
            for kind in ("receivers", "processors", "exporters"):
                for component in pipeline.get(kind, []):
                    if component not in otel.get(kind, {}):
                        problems.append(f"collector pipeline {name}: {kind[:-1]} {component} is not defined")
        for exporter in otel.get("exporters", {}).values():
            if "endpoint" in exporter:
                host, _ = host_port(exporter["endpoint"])
                if host not in services:
                    problems.append(f"collector exporter endpoint {exporter['endpoint']}: no service {host}")
        for extension in otel["service"].get("extensions", []):
            if extension not in otel.get("extensions", {}):
                problems.append(f"collector extension {extension} is not defined")
        receiver = otel["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        for name, service in services.items():
            endpoint = (service.get("environment") or {}).get("FLEUVE_TELEMETRY__OTLP_ENDPOINT")
            if endpoint and host_port(endpoint) != ("otel-collector", int(receiver.rsplit(":", 1)[1])):
                problems.append(f"{name} exports spans to {endpoint}, not the collector's OTLP receiver")

    # Grafana's data sources are services of the file; its dashboards are mounted.
    provisioning = mounted("grafana", "/etc/grafana/provisioning")
    if provisioning:
        for path in sorted(os.listdir(os.path.join(provisioning, "datasources"))):
            with open(os.path.join(provisioning, "datasources", path)) as f:
                for source in yaml.safe_load(f)["datasources"]:
                    host, _ = host_port(source["url"])
                    if host not in services:
                        problems.append(f"grafana data source {source['name']}: no service {host}")
        mounted("grafana", "/var/lib/grafana/dashboards/fleuve")
    if problems:
        fail("\n".join(problems))
    print("prometheus targets, collector pipelines and grafana sources name services of docker-compose.yml")


def hooks(values_path):
    """On install, Helm creates the pre-install hooks (by weight) before any other object of
    the release and waits for them: a hook that names a ServiceAccount, Secret or ConfigMap
    of the release that is not an earlier hook never starts."""
    _, docs = render(values_path)

    def hook_weight(doc):
        annotations = doc["metadata"].get("annotations") or {}
        if "pre-install" not in annotations.get("helm.sh/hook", ""):
            return None
        return int(annotations.get("helm.sh/hook-weight", "0"))

    owned = {(d["kind"], d["metadata"]["name"]): hook_weight(d) for d in docs}
    problems = []
    for doc in docs:
        weight = hook_weight(doc)
        if weight is None or doc["kind"] != "Job":
            continue
        pod = doc["spec"]["template"]["spec"]
        wanted = []
        if pod.get("serviceAccountName"):
            wanted.append(("ServiceAccount", pod["serviceAccountName"]))
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                wanted.append(("Secret", volume["secret"]["secretName"]))
            if "configMap" in volume:
                wanted.append(("ConfigMap", volume["configMap"]["name"]))
        for container in pod["containers"] + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if key in source:
                        wanted.append((kind, source[key]["name"]))
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    wanted.append(("Secret", ref["secretKeyRef"]["name"]))
                if "configMapKeyRef" in ref:
                    wanted.append(("ConfigMap", ref["configMapKeyRef"]["name"]))
        for kind, name in wanted:
            if (kind, name) not in owned:
                continue  # not the release's: it exists before the install
            before = owned[(kind, name)]
            if before is None or before >= weight:
                problems.append(f"hook {doc['metadata']['name']} needs {kind} {name}, created after it on install")
    if problems:
        fail("\n".join(problems))
    jobs = sum(1 for d in docs if hook_weight(d) is not None and d["kind"] == "Job")
    print(f"{jobs} pre-install hook jobs, each using only earlier hooks or outside objects")


def schema_rejects():
    """Wrong value types are refused by values.schema.json at render time."""
    import helm_python

    cases = [
        {"serviceDefaults": {"replicas": "two"}},
        {"postgresql": {"port": "5432"}},
        {"kafka": {"security": {"security.protocol": 1}}},
        {"edge": {"service": {"type": "Ingress"}}},
        {"services": {"order": {"enabled": "yes"}}},
        {"postgresql": {"hostname": "typo"}},
    ]
    for case in cases:
        try:
            chart().render(case, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm_python.HelmError as e:
            reason = " ".join(line.strip() for line in str(e).splitlines()[1:3])
            print(f"refused {json.dumps(case)}: {reason[:200]}")
            continue
        fail(f"values.schema.json accepted {json.dumps(case)}")


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    command, args = argv[1], argv[2:]
    if command == "render":
        for path in args:
            text, _ = render(path)
            print(text)
            print("---")
    elif command == "lint":
        import helm_python

        helm_python.disable_logging()
        result = helm_python.lint(CHART, strict=True, kube_version="v1.31.0")
        for message in result.get("messages", []):
            print(f"{message['severity']} {message['path']}: {message['error']}")
        if result.get("errors"):
            fail("helm lint --strict: " + "; ".join(str(e) for e in result["errors"]))
    elif command == "hooks":
        for path in args:
            hooks(path)
    elif command == "schema-rejects":
        schema_rejects()
    elif command == "compose-config":
        print(json.dumps(compose_config(args[0]), indent=1))
    elif command == "compose-files":
        compose_files(args[0])
    elif command == "compose-validate":
        compose_validate(args[0])
    elif command == "edge":
        kind, _, where = args[0].partition(":")
        print(json.dumps(helm_edge(where) if kind == "helm" else compose_edge(where)))
    elif command == "containers":
        kind, _, where = args[0].partition(":")
        containers = helm_containers(where) if kind == "helm" else compose_containers(where)
        print(json.dumps(containers, indent=1))
    else:
        fail(f"unknown command {command}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
