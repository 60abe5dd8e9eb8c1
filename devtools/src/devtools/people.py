"""Made-up accounts with realistic names, for user-search tests and the benchmark.

Common first and last names combined the ways people pick handles (`maryjones`, `mary_jones`,
`mjones42`, `mary1987`, `jones_mar7`): names share prefixes as real ones do, which is what makes
prefix and typo search selective or not. Follower counts follow a Pareto law (most accounts few).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from search.backends import UserDocument
from search.backends.postgres import user_profile_row

_FIRST_NAMES = (
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara richard "
    "susan joseph jessica thomas sarah charles karen christopher nancy daniel lisa matthew betty "
    "anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna joshua michelle "
    "kenneth dorothy kevin carol brian amanda george melissa timothy deborah ronald stephanie edward "
    "rebecca jason sharon jeffrey laura ryan cynthia jacob kathleen gary amy nicholas angela eric "
    "shirley jonathan anna stephen brenda larry pamela justin emma scott nicole brandon helen benjamin "
    "samantha samuel katherine gregory christine alexander debra frank rachel patrick carolyn raymond "
    "janet jack catherine dennis maria jerry heather tyler diane aaron ruth jose julie adam olivia "
    "nathan joyce henry virginia douglas victoria zachary kelly peter lauren kyle christina ethan joan "
    "walter evelyn noah judith jeremy megan christian andrea keith cheryl roger hannah terry jacqueline "
    "gerald martha harold gloria sean teresa austin ann carl sara arthur madison lawrence frances "
    "dylan kathryn jesse janice jordan jean bryan abigail billy alice joe judy bruce sophia gabriel "
    "grace logan denise albert amber willie doris alan marilyn juan danielle wayne beverly elijah "
    "isabella randy theresa roy diana vincent natalie ralph brittany eugene charlotte russell marie "
    "bobby kayla mason alexis philip lori louis yuki hiroshi sven ingrid lars fatima omar priya arjun"
)
_LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez "
    "wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark "
    "ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams "
    "nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker "
    "cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper "
    "peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood bennett "
    "gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez powell "
    "jenkins perry sullivan bell coleman butler henderson barnes fisher vasquez simmons romero "
    "patterson hamilton graham reynolds griffin wallace moreno west cole hayes bryant herrera gibson "
    "ellis tran medina aguilar stevens murray ford castro marshall owens harrison fernandez mcdonald "
    "woods washington kennedy wells vargas chen freeman webb tucker guzman burns crawford olson simpson "
    "porter hunter gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner "
    "black robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels ferguson "
    "nichols stephens soto weaver gardner payne grant dunn spencer hawkins arnold pierce hansen peters "
    "santos hart bradley knight elliott cunningham duncan armstrong hudson carroll lane riley andrews"
)
FIRST_NAMES = _FIRST_NAMES.split()
LAST_NAMES = _LAST_NAMES.split()


@dataclass(frozen=True)
class Person:
    username: str  # 3 to 32 of [a-z0-9_], unique
    display_name: str
    num_followers: int


def people(count: int, seed: int = 20261205) -> list[Person]:
    """`count` accounts with distinct usernames, the same ones for the same seed."""
    generator = random.Random(seed)
    taken: set[str] = set()
    found: list[Person] = []
    while len(found) < count:
        first, last = generator.choice(FIRST_NAMES), generator.choice(LAST_NAMES)
        username = generator.choice(
            (
                f"{first}{last}",
                f"{first}_{last}",
                f"{first[0]}{last}{generator.randrange(100)}",
                f"{first}{generator.randrange(10_000)}",
                f"{last}_{first[:3]}{generator.randrange(1000)}",
            )
        )[:32]
        if username in taken:
            continue
        taken.add(username)
        followers = int(generator.paretovariate(1.2)) - 1
        found.append(Person(username, f"{first.title()} {last.title()}", followers))
    return found


async def load_profiles(dsn: str, crowd: Sequence[Person]) -> None:
    """COPY the accounts into a search database's user_profiles, as the backend writes them, and
    ANALYZE the table (the planner then knows its size)."""
    rows = [
        user_profile_row(UserDocument(uuid.uuid4(), p.username, p.display_name, p.num_followers, 1))
        for p in crowd
    ]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "user_profiles", records=[tuple(row.values()) for row in rows], columns=list(rows[0])
        )
        await connection.execute("ANALYZE user_profiles")
    finally:
        await connection.close()
