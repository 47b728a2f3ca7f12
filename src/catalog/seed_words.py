"""Word lists behind the demo catalog: a category taxonomy, brands, phrases, attributes.

Every list is a tuple and its order matters: the seed draws from them by index, so
reordering or editing an entry changes every generated catalog (and its fingerprint).
Append rather than insert when the catalog should stay comparable with older runs.
"""

from __future__ import annotations

# A leaf kind: category name, the noun its products are named after, a typical price.
LeafSpec = tuple[str, str, float]

# Root name -> (SKU code, child name -> leaf kinds). Eight roots of five children of
# five leaves: 248 categories before the qualifier variants below are needed.
TAXONOMY: tuple[tuple[str, str, tuple[tuple[str, tuple[LeafSpec, ...]], ...]], ...] = (
    ("Electronics", "ELE", (
        ("Audio", (
            ("Headphones", "Headphones", 120), ("Bluetooth Speakers", "Bluetooth Speaker", 80),
            ("Soundbars", "Soundbar", 250), ("Microphones", "Microphone", 90),
            ("Turntables", "Turntable", 300),
        )),
        ("Computers", (
            ("Laptops", "Laptop", 950), ("Monitors", "Monitor", 280),
            ("Keyboards", "Keyboard", 70), ("Mice & Trackpads", "Wireless Mouse", 35),
            ("External Drives", "Portable SSD", 110),
        )),
        ("Cameras", (
            ("Mirrorless Cameras", "Mirrorless Camera", 1100),
            ("Action Cameras", "Action Camera", 280),
            ("Camera Lenses", "Lens", 600), ("Tripods", "Tripod", 75), ("Drones", "Drone", 650),
        )),
        ("Phones & Accessories", (
            ("Smartphones", "Smartphone", 600), ("Phone Cases", "Phone Case", 20),
            ("Chargers", "Fast Charger", 25), ("Power Banks", "Power Bank", 40),
            ("Screen Protectors", "Screen Protector", 12),
        )),
        ("TV & Home Theater", (
            ("Televisions", "4K TV", 800), ("Projectors", "Projector", 500),
            ("Streaming Devices", "Streaming Stick", 50), ("AV Receivers", "AV Receiver", 450),
            ("TV Mounts", "TV Wall Mount", 45),
        )),
    )),
    ("Home & Kitchen", "HOM", (
        ("Cookware", (
            ("Frying Pans", "Frying Pan", 45), ("Saucepans", "Saucepan", 40),
            ("Dutch Ovens", "Dutch Oven", 110), ("Woks", "Wok", 40),
            ("Baking Sheets", "Baking Sheet", 18),
        )),
        ("Small Appliances", (
            ("Coffee Makers", "Coffee Maker", 120), ("Blenders", "Blender", 90),
            ("Toasters", "Toaster", 45), ("Air Fryers", "Air Fryer", 110),
            ("Electric Kettles", "Electric Kettle", 40),
        )),
        ("Furniture", (
            ("Office Chairs", "Office Chair", 260), ("Bookcases", "Bookcase", 180),
            ("Coffee Tables", "Coffee Table", 220), ("Bar Stools", "Bar Stool", 90),
            ("TV Stands", "TV Stand", 200),
        )),
        ("Bedding", (
            ("Duvet Covers", "Duvet Cover", 70), ("Pillows", "Pillow", 35),
            ("Sheet Sets", "Sheet Set", 60), ("Blankets", "Throw Blanket", 45),
            ("Mattress Toppers", "Mattress Topper", 130),
        )),
        ("Storage & Organization", (
            ("Storage Bins", "Storage Bin", 20), ("Shelving Units", "Shelving Unit", 120),
            ("Drawer Organizers", "Drawer Organizer", 18),
            ("Laundry Baskets", "Laundry Basket", 25),
            ("Food Containers", "Food Container Set", 30),
        )),
    )),
    ("Sports & Outdoors", "SPO", (
        ("Running", (
            ("Running Shoes", "Trail Running Shoe", 120), ("Running Jackets", "Running Jacket", 90),
            ("Hydration Packs", "Hydration Pack", 60), ("GPS Watches", "GPS Watch", 300),
            ("Running Socks", "Running Socks", 14),
        )),
        ("Camping & Hiking", (
            ("Tents", "Tent", 250), ("Sleeping Bags", "Sleeping Bag", 120),
            ("Hiking Backpacks", "Hiking Backpack", 140), ("Camp Stoves", "Camp Stove", 70),
            ("Headlamps", "Headlamp", 35),
        )),
        ("Cycling", (
            ("Road Bikes", "Road Bike", 1400), ("Bike Helmets", "Bike Helmet", 80),
            ("Bike Lights", "Bike Light", 40), ("Cycling Jerseys", "Cycling Jersey", 70),
            ("Bike Locks", "Bike Lock", 45),
        )),
        ("Fitness", (
            ("Yoga Mats", "Yoga Mat", 35), ("Dumbbells", "Dumbbell Set", 90),
            ("Resistance Bands", "Resistance Band Set", 25), ("Kettlebells", "Kettlebell", 55),
            ("Jump Ropes", "Jump Rope", 15),
        )),
        ("Water Sports", (
            ("Swim Goggles", "Swim Goggles", 20), ("Wetsuits", "Wetsuit", 220),
            ("Paddle Boards", "Paddle Board", 600), ("Life Jackets", "Life Jacket", 70),
            ("Snorkel Sets", "Snorkel Set", 40),
        )),
    )),
    ("Fashion", "FAS", (
        ("Men's Clothing", (
            ("Men's T-Shirts", "T-Shirt", 22), ("Men's Jeans", "Slim Jeans", 60),
            ("Men's Jackets", "Jacket", 140), ("Men's Shirts", "Oxford Shirt", 50),
            ("Men's Sweaters", "Sweater", 70),
        )),
        ("Women's Clothing", (
            ("Dresses", "Dress", 75), ("Women's Tops", "Blouse", 40),
            ("Women's Jeans", "High-Rise Jeans", 65), ("Women's Coats", "Wool Coat", 190),
            ("Skirts", "Skirt", 45),
        )),
        ("Shoes", (
            ("Sneakers", "Sneaker", 85), ("Boots", "Chelsea Boot", 150), ("Sandals", "Sandal", 45),
            ("Loafers", "Loafer", 110), ("Slippers", "Slipper", 30),
        )),
        ("Bags", (
            ("Handbags", "Handbag", 120), ("Everyday Backpacks", "Backpack", 70),
            ("Wallets", "Wallet", 40), ("Travel Duffels", "Duffel Bag", 90),
            ("Tote Bags", "Tote Bag", 35),
        )),
        ("Accessories", (
            ("Watches", "Watch", 180), ("Sunglasses", "Sunglasses", 90),
            ("Belts", "Leather Belt", 40), ("Scarves", "Scarf", 35), ("Hats & Caps", "Cap", 25),
        )),
    )),
    ("Books", "BOO", (
        ("Fiction", (
            ("Literary Fiction", "novel", 16), ("Mystery & Thriller", "thriller", 15),
            ("Science Fiction", "novel", 15), ("Fantasy", "novel", 17),
            ("Historical Fiction", "novel", 16),
        )),
        ("Non-Fiction", (
            ("Biographies", "biography", 22), ("History", "history book", 24),
            ("Science & Nature", "book", 21), ("Business", "book", 25), ("Self-Help", "book", 17),
        )),
        ("Children's Books", (
            ("Picture Books", "picture book", 12), ("Early Readers", "reader", 7),
            ("Middle Grade", "novel", 9), ("Young Adult", "novel", 13),
            ("Activity Books", "activity book", 8),
        )),
        ("Cooking & Food", (
            ("Baking", "cookbook", 28), ("Vegetarian Cooking", "cookbook", 26),
            ("World Cuisine", "cookbook", 30), ("Quick Meals", "cookbook", 20),
            ("Drinks & Cocktails", "guide", 22),
        )),
        ("Reference & Learning", (
            ("Language Learning", "course book", 30), ("Dictionaries", "dictionary", 25),
            ("Travel Guides", "travel guide", 20), ("Study Guides", "study guide", 18),
            ("Programming", "handbook", 45),
        )),
    )),
    ("Toys & Games", "TOY", (
        ("Building Toys", (
            ("Building Sets", "Building Set", 50), ("Marble Runs", "Marble Run", 40),
            ("Magnetic Tiles", "Magnetic Tile Set", 55), ("Wooden Blocks", "Wooden Block Set", 30),
            ("Model Kits", "Model Kit", 35),
        )),
        ("Board Games", (
            ("Strategy Games", "Strategy Game", 45), ("Family Games", "Family Board Game", 30),
            ("Card Games", "Card Game", 15), ("Party Games", "Party Game", 25),
            ("Puzzles", "Jigsaw Puzzle", 20),
        )),
        ("Outdoor Play", (
            ("Scooters", "Kick Scooter", 80), ("Kites", "Kite", 25),
            ("Water Blasters", "Water Blaster", 20), ("Sandbox Toys", "Sand Toy Set", 18),
            ("Play Tents", "Play Tent", 45),
        )),
        ("Dolls & Figures", (
            ("Fashion Dolls", "Fashion Doll", 25), ("Action Figures", "Action Figure", 20),
            ("Plush Toys", "Plush Toy", 18), ("Dollhouses", "Dollhouse", 120),
            ("Play Sets", "Play Set", 40),
        )),
        ("Learning Toys", (
            ("STEM Kits", "STEM Kit", 45), ("Science Kits", "Science Kit", 35),
            ("Coding Robots", "Coding Robot", 110), ("Musical Toys", "Toy Keyboard", 40),
            ("Art Supplies", "Art Set", 25),
        )),
    )),
    ("Beauty & Personal Care", "BEA", (
        ("Skin Care", (
            ("Moisturizers", "Moisturizer", 28), ("Cleansers", "Facial Cleanser", 18),
            ("Serums", "Serum", 35), ("Sunscreen", "Sunscreen", 16),
            ("Face Masks", "Sheet Mask Pack", 14),
        )),
        ("Hair Care", (
            ("Shampoo", "Shampoo", 12), ("Conditioner", "Conditioner", 12),
            ("Hair Dryers", "Hair Dryer", 90), ("Straighteners", "Hair Straightener", 70),
            ("Hair Oils", "Hair Oil", 20),
        )),
        ("Makeup", (
            ("Foundation", "Foundation", 30), ("Lipstick", "Lipstick", 18),
            ("Mascara", "Mascara", 15),
            ("Eyeshadow Palettes", "Eyeshadow Palette", 35), ("Makeup Brushes", "Brush Set", 28),
        )),
        ("Fragrance", (
            ("Eau de Parfum", "Eau de Parfum", 85), ("Eau de Toilette", "Eau de Toilette", 60),
            ("Body Mists", "Body Mist", 18), ("Cologne", "Cologne", 65),
            ("Fragrance Sets", "Fragrance Gift Set", 75),
        )),
        ("Shaving & Grooming", (
            ("Electric Shavers", "Electric Shaver", 120), ("Razors", "Safety Razor", 30),
            ("Beard Trimmers", "Beard Trimmer", 55), ("Shaving Cream", "Shaving Cream", 9),
            ("Grooming Kits", "Grooming Kit", 45),
        )),
    )),
    ("Garden & Patio", "GAR", (
        ("Gardening Tools", (
            ("Pruning Shears", "Pruning Shears", 25), ("Garden Hoses", "Garden Hose", 40),
            ("Shovels & Spades", "Spade", 35), ("Wheelbarrows", "Wheelbarrow", 110),
            ("Garden Gloves", "Garden Gloves", 14),
        )),
        ("Outdoor Furniture", (
            ("Patio Chairs", "Patio Chair", 120), ("Patio Tables", "Patio Table", 260),
            ("Hammocks", "Hammock", 80), ("Umbrellas", "Patio Umbrella", 110),
            ("Outdoor Cushions", "Outdoor Cushion", 35),
        )),
        ("Grills & Outdoor Cooking", (
            ("Gas Grills", "Gas Grill", 550), ("Charcoal Grills", "Charcoal Grill", 180),
            ("Pizza Ovens", "Pizza Oven", 400), ("Smokers", "Smoker", 450),
            ("Grill Tools", "Grill Tool Set", 35),
        )),
        ("Plants & Seeds", (
            ("Flower Seeds", "Flower Seed Pack", 6), ("Vegetable Seeds", "Vegetable Seed Kit", 15),
            ("Planters", "Planter", 40), ("Fertilizers", "Fertilizer", 20),
            ("Potting Soil", "Potting Mix", 15),
        )),
        ("Lawn Care", (
            ("Lawn Mowers", "Lawn Mower", 400), ("Leaf Blowers", "Leaf Blower", 150),
            ("Sprinklers", "Sprinkler", 30), ("Trimmers", "String Trimmer", 120),
            ("Lawn Seed", "Grass Seed", 35),
        )),
    )),
)  # fmt: skip

# Variants of a leaf once every plain leaf is used, with their price multiplier.
QUALIFIERS: tuple[tuple[str, float], ...] = (
    ("Premium", 2.2), ("Budget", 0.5), ("Kids'", 0.6), ("Professional", 2.6),
    ("Travel", 0.8), ("Eco", 1.2), ("Vintage", 1.4), ("Compact", 0.9),
)  # fmt: skip

BRANDS: tuple[str, ...] = (
    "Nordvik", "Altura", "Kestrel", "Brightwell", "Solvane", "Vantor", "Halden", "Corvex",
    "Lumora", "Tidewell", "Ashgrove", "Fenwick", "Orrin", "Quillon", "Sable & Pine", "Marlow",
    "Everhart", "Zephyra", "Calder", "Norrland", "Pinecrest", "Redstone", "Silverleaf", "Tovik",
    "Ulmo", "Veltro", "Westbrook", "Yarrow", "Bramble", "Cobalt Bay", "Driftwood", "Emberly",
    "Frostline", "Glenmore", "Harbor & Co", "Ironwood", "Juniper", "Kinsley", "Larkspur",
    "Meridian",
)  # fmt: skip

ADJECTIVES: tuple[str, ...] = (
    "Classic", "Pro", "Ultra", "Compact", "Essential", "Premium", "Lightweight", "Everyday",
    "Adventure", "Smart", "Elite", "Urban", "Heritage", "Eco", "Max", "Air", "Flex", "Prime",
    "Signature", "Studio", "Trail", "Summit", "Nomad", "Core",
)  # fmt: skip

# Letters that read well in model codes (no I/O/Q, easily confused with digits).
MODEL_LETTERS = "ABCDEFGHJKLMNPRSTVWXZ"

TITLE_ADJECTIVES: tuple[str, ...] = (
    "Silent", "Hidden", "Last", "Broken", "Golden", "Quiet", "Distant", "Secret", "Winter",
    "Burning", "Lost", "Northern", "Glass", "Paper", "Endless", "Forgotten", "Little", "Wild",
)  # fmt: skip

TITLE_NOUNS: tuple[str, ...] = (
    "Harbor", "Garden", "Kingdom", "Letters", "River", "Orchard", "Lighthouse", "Atlas",
    "Compass", "Summer", "Island", "Bridge", "Mountain", "Library", "Voyage", "Kitchen",
    "Forest", "City", "Archive", "Table",
)  # fmt: skip

# Title patterns for books; {adj}, {noun} and {other} are filled from the lists above.
TITLE_PATTERNS: tuple[str, ...] = (
    "The {adj} {noun}", "A {adj} {noun}", "The {noun} of {other}", "{adj} {noun}",
    "Notes from the {noun}", "The {noun} and the {other}", "Beyond the {adj} {noun}",
)  # fmt: skip

FIRST_NAMES: tuple[str, ...] = (
    "Ada", "Bram", "Clara", "Dev", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaia",
    "Leo", "Maren", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tove", "Yusuf",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Lindqvist", "Okafor", "Moreau", "Castillo", "Brennan", "Haddad", "Novak", "Tanaka",
    "Whitfield", "Andersen", "Rossi", "Kowalski", "Iyer", "Fischer", "Mendes", "Ozturk",
)  # fmt: skip

# Description sentences; {name}, {feature} and {use} are filled per product. They name
# the product rather than its noun, so plural nouns ("Sunglasses") read right too.
OPENERS: tuple[str, ...] = (
    "The {name} is built for everyday use.",
    "Meet the {name}, made to keep up with you.",
    "Designed for people who care about the details, the {name} delivers.",
    "The {name} brings reliable quality at a fair price.",
    "Dependable and easy to use, the {name} is ready for {use}.",
    "Thoughtfully made and easy to love, the {name} is a favorite for {use}.",
)  # fmt: skip

MIDDLES: tuple[str, ...] = (
    "It features {feature}.",
    "Highlights include {feature}.",
    "Customers love it for {feature}.",
    "Expect {feature} and a finish that lasts.",
)  # fmt: skip

CLOSERS: tuple[str, ...] = (
    "Backed by a two-year warranty.",
    "Ships in recyclable packaging.",
    "Free returns within 30 days.",
    "A great gift for friends and family.",
    "Easy to clean and simple to store.",
)  # fmt: skip

FEATURES: tuple[str, ...] = (
    "a durable, easy-care finish", "a lightweight build", "thoughtful detailing",
    "premium materials", "a compact footprint", "an ergonomic design",
    "long-lasting performance", "a clean, minimal look", "weather-resistant construction",
    "reinforced stitching", "an energy-efficient design", "tool-free assembly",
)  # fmt: skip

USES: tuple[str, ...] = (
    "daily life", "weekend adventures", "busy mornings", "travel", "the whole family",
    "long days", "small spaces", "gifting",
)  # fmt: skip

BOOK_BLURBS: tuple[str, ...] = (
    "A gripping, big-hearted read from {author}.",
    "{author} returns with {a_noun} readers will not forget.",
    "Clear, warm and hard to put down.",
    "Winner of several readers' choice awards.",
    "Now in a new edition with an afterword by the author.",
)  # fmt: skip

# Attribute keys a product draws 2-5 from: its child category's list if it has one,
# else its root's; powered products use POWERED_ATTRIBUTES whatever their category.
ROOT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Electronics": ("color", "connectivity", "warranty", "weight", "power"),
    "Home & Kitchen": ("color", "material", "capacity", "dimensions", "care"),
    "Sports & Outdoors": ("color", "size", "material", "weight", "season"),
    "Fashion": ("color", "size", "material", "fit", "care"),
    "Books": ("author", "format", "language", "pages", "publisher"),
    "Toys & Games": ("age_range", "material", "pieces", "batteries", "color"),
    "Beauty & Personal Care": ("volume", "skin_type", "scent", "vegan", "origin"),
    "Garden & Patio": ("material", "color", "power", "weight", "dimensions"),
}

CHILD_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Cookware": ("material", "color", "diameter", "care", "induction"),
    "Small Appliances": ("color", "capacity", "power", "warranty", "material"),
    "Furniture": ("material", "color", "dimensions", "weight", "assembly"),
    "Bedding": ("color", "material", "bed_size", "care", "thread_count"),
    "Storage & Organization": ("material", "color", "capacity", "dimensions"),
    "Camping & Hiking": ("color", "weight", "material", "season", "capacity"),
    "Cycling": ("color", "size", "material", "weight"),
    "Fitness": ("color", "material", "weight", "dimensions"),
    "Water Sports": ("color", "size", "material"),
    "Bags": ("color", "material", "capacity", "dimensions"),
    "Accessories": ("color", "material", "size"),
    "Outdoor Play": ("age_range", "color", "material"),
    "Dolls & Figures": ("age_range", "material", "batteries", "color"),
    "Hair Care": ("volume", "scent", "vegan", "origin"),
    "Shaving & Grooming": ("scent", "skin_type", "vegan", "origin"),
    "Gardening Tools": ("material", "color", "weight"),
    "Outdoor Furniture": ("material", "color", "dimensions", "weight", "care"),
    "Grills & Outdoor Cooking": ("fuel", "material", "dimensions", "weight"),
    "Plants & Seeds": ("season", "weight", "origin"),
    "Lawn Care": ("color", "weight", "warranty", "season"),
}

POWERED_NOUNS: frozenset[str] = frozenset({
    "Hair Dryer", "Hair Straightener", "Electric Shaver", "Beard Trimmer", "Lawn Mower",
    "Leaf Blower", "String Trimmer", "Coding Robot", "Toy Keyboard", "GPS Watch",
})  # fmt: skip

POWERED_ATTRIBUTES: tuple[str, ...] = ("color", "power", "warranty", "weight")

ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "color": ("black", "white", "graphite", "navy", "red", "olive", "sand", "sky blue", "silver"),
    "connectivity": ("Bluetooth 5.3", "Wi-Fi 6", "USB-C", "wired", "Bluetooth + USB-C"),
    "warranty": ("1 year", "2 years", "3 years"),
    "weight": ("0.2 kg", "0.5 kg", "0.8 kg", "1.2 kg", "2.5 kg", "4 kg", "9 kg"),
    "power": ("battery", "mains", "USB powered", "cordless 18V", "manual"),
    "material": ("stainless steel", "cotton", "oak", "recycled polyester", "aluminium",
                 "cast iron", "ceramic", "leather", "bamboo", "nylon"),
    "capacity": ("0.5 L", "1 L", "1.7 L", "4 L", "12 L", "30 L"),
    "dimensions": ("20 x 15 x 10 cm", "45 x 30 x 20 cm", "80 x 50 x 40 cm", "120 x 60 x 75 cm"),
    "care": ("machine washable", "hand wash only", "dishwasher safe", "wipe clean"),
    "size": ("XS", "S", "M", "L", "XL", "one size", "EU 38", "EU 42", "EU 45"),
    "season": ("all season", "summer", "winter", "3-season"),
    "fit": ("slim", "regular", "relaxed", "oversized"),
    "format": ("paperback", "hardcover", "large print", "spiral bound"),
    "language": ("English", "English", "English", "Spanish", "German", "French"),
    "pages": ("96", "184", "256", "320", "412", "528"),
    "publisher": ("Harbor Lane Press", "Northlight Books", "Quarto & Vine", "Blue Kite"),
    "age_range": ("3+", "5+", "8+", "10+", "14+", "adult"),
    "pieces": ("24", "100", "250", "500", "1000"),
    "batteries": ("none", "2 x AA", "3 x AAA", "rechargeable"),
    "volume": ("30 ml", "50 ml", "100 ml", "250 ml", "500 ml"),
    "skin_type": ("all skin types", "dry", "oily", "sensitive", "combination"),
    "scent": ("unscented", "citrus", "lavender", "sandalwood", "fresh linen"),
    "vegan": ("yes", "no"),
    "origin": ("France", "Korea", "Sweden", "USA", "Japan"),
    "diameter": ("20 cm", "24 cm", "28 cm", "30 cm"),
    "induction": ("yes", "no"),
    "assembly": ("required", "none", "tool-free"),
    "bed_size": ("twin", "full", "queen", "king"),
    "thread_count": ("200", "300", "400", "600"),
    "fuel": ("propane", "natural gas", "charcoal", "wood pellets"),
}  # fmt: skip

# Materials that fit a root better than the generic list above.
ROOT_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "Fashion": {"material": ("cotton", "wool", "linen", "denim", "leather", "recycled polyester")},
    "Sports & Outdoors": {"material": ("nylon", "recycled polyester", "merino wool", "aluminium",
                                       "carbon fibre", "neoprene")},
    "Toys & Games": {"material": ("wood", "ABS plastic", "cardboard", "plush", "silicone")},
    "Garden & Patio": {"material": ("steel", "teak", "aluminium", "resin wicker", "terracotta")},
}  # fmt: skip

STOCK_REASONS_IN: tuple[str, ...] = ("restock", "supplier delivery", "returned to stock")
STOCK_REASONS_OUT: tuple[str, ...] = ("damaged in warehouse", "inventory count correction")
