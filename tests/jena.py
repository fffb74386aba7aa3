"""Jena's command-line tools from Debian's libapache-jena-java, run with java: a third-party
RDF parser (riot) and SPARQL engine (arq) for the tests."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

#: Debian has no `riot` script: its libapache-jena-java ships the classes (jena-cmds.jar has
#: riotcmd.riot) and we run them with java. Jena 4.5.0-2's jena-core.jar relocates its
#: Xerces classes to `xerces.*` but leaves their message files under
#: `org/apache/jena/ext/xerces/`, so XSD datatypes fail to initialise ("internal error");
#: the files are copied to where the classes look for them, in a jar of our own.
JENA_JARS = ("jena-arq", "jena-base", "jena-cmds", "jena-core", "jena-iri")
JENA_DEPENDENCIES = ("commons-cli", "commons-codec", "commons-compress", "commons-io",
                     "commons-lang3", "dexx.collection", "gson", "guava", "httpclient",
                     "httpcore", "jackson-core", "jackson-databind", "jackson-annotations",
                     "jsonld-java", "jakarta.json-api", "protobuf", "slf4j-api",
                     "slf4j-simple", "thrift", "titanium-json-ld", "caffeine")
JAVA_SHARE = Path("/usr/share/java")


def jena_command(main_class: str, scratch: Path) -> list[str]:
    """``java -cp … main_class`` (riotcmd.riot, arq.sparql, …); skips the test when java or
    Jena is not installed. ``scratch`` is a folder for the message-files jar."""
    java = shutil.which("java")
    if java is None or not (JAVA_SHARE / "jena-cmds.jar").is_file():
        pytest.skip("Jena needs java and Debian's libapache-jena-java "
                    "(/usr/share/java/jena-cmds.jar); .ci/run installs them")
    jars = [JAVA_SHARE / f"{name}.jar" for name in (*JENA_JARS, *JENA_DEPENDENCIES)]
    classpath = [str(j) for j in jars if j.is_file()]
    fix = scratch / "jena-xerces-messages.jar"
    prefix = "org/apache/jena/ext/xerces/"
    with zipfile.ZipFile(JAVA_SHARE / "jena-core.jar") as core, \
            zipfile.ZipFile(fix, "w") as out:
        names = set(core.namelist())
        if "xerces/impl/dv/SchemaDVFactory.class" in names:
            for name in names:
                if name.startswith(prefix) and not name.endswith((".class", "/")):
                    out.writestr("xerces/" + name[len(prefix):], core.read(name))
    classpath.append(str(fix))
    return [java, "-cp", ":".join(classpath), main_class]
